"""Look-alike names: a name whose TR39 confusable skeleton or case-folded form is
another's is taken (409 USER_NAME_TAKEN), separators at either end aside; both rules are unique
indexes, so two look-alikes signing up at once cannot both pass."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support import assert_problem
from ticketing.container import Services
from ticketing.users.errors import UserNameTaken
from ticketing.users.names import name_key
from ticketing.users.repository import UserRepository

Client = AsyncTestClient[Litestar]
PASSWORD = "a-fine-password"  # noqa: S105

LOOK_ALIKES = {
    "alice": ["aIice", "a1ice", "ALICE", "Alice", "alice.", "alice_", "-alice", "_alice_", "alice--", "aLIce"],
    "admin": ["admin.", "ADMIN", "_admin", "admin-", "Admin.", "-Admin_"],
    "bob0": ["bobO", "BOBo", "bob0.", "b0b0"],
}
DISTINCT = ["a.lice", "alicia", "ali-ce", "bobby", "admins", "adrnin"]  # separators inside count; rn is not m


def sign_up(client: Client, name: str) -> object:
    return client.post("/api/v1/users", json={"name": name, "password": PASSWORD})


async def user_count(services: Services) -> int:
    async with services.uow() as uow:
        return int(await uow.conn.fetchval("SELECT count(*) FROM users"))


@pytest.mark.parametrize("original", list(LOOK_ALIKES))
async def test_a_look_alike_of_a_taken_name_is_taken(client: Client, services: Services, original: str) -> None:
    created = await client.post("/api/v1/users", json={"name": original, "password": PASSWORD})
    assert created.status_code == 201, created.text
    for look_alike in LOOK_ALIKES[original]:
        refused = await client.post("/api/v1/users", json={"name": look_alike, "password": PASSWORD})
        assert_problem(refused, 409, "USER_NAME_TAKEN")
    assert await user_count(services) == 1  # nothing written by a refused sign-up (no user, no wallet)
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM wallets") == 1


async def test_the_look_alike_that_came_first_keeps_the_name(client: Client, services: Services) -> None:
    assert (await client.post("/api/v1/users", json={"name": "a1ice", "password": PASSWORD})).status_code == 201
    assert_problem(
        await client.post("/api/v1/users", json={"name": "alice", "password": PASSWORD}), 409, "USER_NAME_TAKEN"
    )
    # Sign-in takes the name as it was registered.
    signed_in = await client.post("/api/v1/auth/token", json={"name": "a1ice", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text


async def test_names_that_only_differ_inside_by_separators_or_letters_register(
    client: Client, services: Services
) -> None:
    assert (await client.post("/api/v1/users", json={"name": "alice", "password": PASSWORD})).status_code == 201
    for name in DISTINCT:
        created = await client.post("/api/v1/users", json={"name": name, "password": PASSWORD})
        assert created.status_code == 201, f"{name}: {created.text}"
    assert await user_count(services) == 1 + len(DISTINCT)


def test_the_key_is_the_skeleton_without_end_separators() -> None:
    assert {name_key(n) for n in ["alice", *LOOK_ALIKES["alice"]] if n.lower() != "alice"} == {"alice"}
    assert name_key("ALICE") == "allce"  # taken beside "alice" by lower(name), not by the key
    assert name_key("ad.min") == "ad.min"
    assert name_key("fan0000001") == "fanooooool"


async def test_look_alikes_signing_up_at_once_let_exactly_one_in(client: Client, services: Services) -> None:
    names = ["alice", *LOOK_ALIKES["alice"][:9]]
    answers = await asyncio.gather(
        *(client.post("/api/v1/users", json={"name": n, "password": PASSWORD}) for n in names)
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * (len(names) - 1), statuses
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "USER_NAME_TAKEN")
    assert await user_count(services) == 1


async def test_the_unique_index_decides_two_open_transactions(services: Services) -> None:
    """The second of two uncommitted sign-ups of look-alikes waits on the index for the first,
    and fails once it commits: no read-then-insert window."""
    async with services.uow() as first:
        await first.repo(UserRepository).add("alice", "hash")
        async with services.uow() as second:
            insert = asyncio.create_task(second.repo(UserRepository).add("a1ice", "hash"))
            await asyncio.sleep(0.2)  # the second insert is now waiting on the first's index entry
            assert not insert.done()
            await first.commit()
            with pytest.raises(UserNameTaken):
                await insert
    assert await user_count(services) == 1


async def test_the_database_refuses_a_look_alike_written_around_the_service(services: Services) -> None:
    async with services.uow() as uow:
        await uow.repo(UserRepository).add("alice", "hash")
        await uow.commit()
    with pytest.raises(asyncpg.UniqueViolationError):
        async with services.uow() as uow:
            await uow.conn.execute(
                "INSERT INTO users (name, name_key, password_hash) VALUES ('a1ice', $1, 'x')", name_key("a1ice")
            )

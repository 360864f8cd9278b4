"""Revocation over HTTP: sign-out and a password change revoke every access token
issued before, on writes and operator endpoints; operator rights come from the account."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Collection
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import admitted_token, create_concert, create_schedule, create_user
from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.kernel.errors import Unauthenticated
from ticketing.kernel.security import Principal
from ticketing.users.repository import AccountState, UserRepository

Client = AsyncTestClient[Litestar]
PASSWORD = "first-password"  # noqa: S105


async def sign_up_and_in(client: Client, name: str) -> tuple[dict[str, Any], str]:
    created = await client.post("/api/v1/users", json={"name": name, "password": PASSWORD})
    assert created.status_code == 201, created.text
    return created.json(), await sign_in(client, name, PASSWORD)


async def sign_in(client: Client, name: str, password: str) -> str:
    answer = await client.post("/api/v1/auth/token", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def charge(client: Client, wallet_id: int, token: str, amount: int = 1000) -> Any:
    return await client.post(f"/api/v1/wallets/{wallet_id}/charges", json={"amount": amount}, headers=bearer(token))


async def test_sign_out_revokes_every_token_issued_before(client: Client) -> None:
    user, phone = await sign_up_and_in(client, "leaving.fan")
    laptop = await sign_in(client, "leaving.fan", PASSWORD)
    assert (await charge(client, user["wallet_id"], laptop)).status_code == 200

    signed_out = await client.delete("/api/v1/auth/token", headers=bearer(phone))
    assert signed_out.status_code == 204, signed_out.text

    # Both devices' tokens were issued before the sign-out: neither writes any more.
    assert_problem(await charge(client, user["wallet_id"], phone), 401, "UNAUTHENTICATED")
    assert_problem(await charge(client, user["wallet_id"], laptop), 401, "UNAUTHENTICATED")
    assert_problem(await client.delete("/api/v1/auth/token", headers=bearer(laptop)), 401, "UNAUTHENTICATED")
    change = {"current_password": PASSWORD, "new_password": "another-password"}
    assert_problem(
        await client.put("/api/v1/users/me/password", json=change, headers=bearer(laptop)), 401, "UNAUTHENTICATED"
    )

    fresh = await sign_in(client, "leaving.fan", PASSWORD)
    wallet = await charge(client, user["wallet_id"], fresh)
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["balance"] == 2000  # only the charges made before the sign-out and now


async def test_a_revoked_token_cannot_hold_release_or_pay(client: Client, services: Services) -> None:
    fan = await create_user(services, balance=100_000)
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3)
    token = await admitted_token(services, fan, concert)
    headers = {**fan.headers, "X-Queue-Token": token}
    held = await client.post("/api/v1/reservations", json={"seat_id": schedule.seats[0].id}, headers=headers)
    assert held.status_code == 201, held.text
    reservation_id = held.json()["id"]

    assert (await client.delete("/api/v1/auth/token", headers=fan.headers)).status_code == 204

    hold_again = await client.post("/api/v1/reservations", json={"seat_id": schedule.seats[1].id}, headers=headers)
    assert_problem(hold_again, 401, "UNAUTHENTICATED")
    pay = await client.post("/api/v1/payments", json={"reservation_id": reservation_id}, headers=headers)
    assert_problem(pay, 401, "UNAUTHENTICATED")
    assert_problem(
        await client.delete(f"/api/v1/reservations/{reservation_id}", headers=headers), 401, "UNAUTHENTICATED"
    )

    # Nothing changed: the one hold is still held, nothing paid.
    fresh = await sign_in(client, fan.name, FACTORY_PASSWORD)
    mine = await client.get(f"/api/v1/reservations/{reservation_id}", headers=bearer(fresh))
    assert mine.json()["status"] == "HELD"
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM reservations") == 1
        assert await uow.conn.fetchval("SELECT count(*) FROM payments") == 0


async def test_a_revoked_token_learns_of_a_taken_seat_only_what_the_seat_list_shows(
    client: Client, services: Services
) -> None:
    """A hold of a seat this process saw taken is refused before the account check (a race's
    loser answered as cheaply as a read): a revoked token is told only what its seat list
    read says, and a hold that would win is still refused 401."""
    serving: Services = client.app.state.services  # the app's own, whose memory answers the losers
    serving.schedules.cache_seconds = 60.0  # the memory of the taken seat outlives the test
    winner, rival, leaver = [await create_user(services) for _ in range(3)]
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=2)
    taken, free = schedule.seats[0].id, schedule.seats[1].id
    for fan in (winner, rival):
        headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
        await client.post("/api/v1/reservations", json={"seat_id": taken}, headers=headers)
    assert serving.schedules.known_taken(taken) == schedule.id  # the rival's refusal remembered it
    queue = await admitted_token(services, leaver, concert)
    headers = {**leaver.headers, "X-Queue-Token": queue}
    assert (await client.delete("/api/v1/auth/token", headers=leaver.headers)).status_code == 204

    seat_list = await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=headers)
    assert seat_list.status_code == 200, seat_list.text  # the seat list reads with a revoked token
    assert [seat["available"] for seat in seat_list.json()] == [False, True]
    lost = await client.post("/api/v1/reservations", json={"seat_id": taken}, headers=headers)
    assert_problem(lost, 409, "SEAT_UNAVAILABLE")
    assert lost.json()["unavailable_seat_ids"] == [taken]
    assert lost.headers["cache-control"] == "no-store"
    assert_problem(
        await client.post("/api/v1/reservations", json={"seat_id": free}, headers=headers), 401, "UNAUTHENTICATED"
    )
    # Without the queue token the seat list is refused, and so is the hold, alike.
    no_queue = await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=leaver.headers)
    no_queue_hold = await client.post("/api/v1/reservations", json={"seat_id": taken}, headers=leaver.headers)
    assert no_queue.status_code == no_queue_hold.status_code == 401
    assert no_queue.json()["code"] == no_queue_hold.json()["code"] != "UNAUTHENTICATED"
    async with services.uow() as uow:  # nothing changed: the winner's one hold
        assert await uow.conn.fetchval("SELECT count(*) FROM reservations") == 1


async def test_password_change_revokes_old_tokens_and_answers_a_new_one(client: Client) -> None:
    user, old = await sign_up_and_in(client, "careful.fan")
    url = "/api/v1/users/me/password"

    wrong = {"current_password": "not-the-password", "new_password": "brand-new-password"}
    assert_problem(await client.put(url, json=wrong, headers=bearer(old)), 401, "UNAUTHENTICATED")
    too_short = {"current_password": PASSWORD, "new_password": "short"}
    assert_problem(await client.put(url, json=too_short, headers=bearer(old)), 422, "VALIDATION_ERROR")
    # A refused change changes nothing: the token still writes, the old password still signs in.
    assert (await charge(client, user["wallet_id"], old)).status_code == 200

    changed = await client.put(
        url, json={"current_password": PASSWORD, "new_password": "brand-new-password"}, headers=bearer(old)
    )
    assert changed.status_code == 200, changed.text
    new = changed.json()["access_token"]

    assert_problem(await charge(client, user["wallet_id"], old), 401, "UNAUTHENTICATED")
    assert (await charge(client, user["wallet_id"], new)).status_code == 200
    refused = await client.post("/api/v1/auth/token", json={"name": "careful.fan", "password": PASSWORD})
    assert_problem(refused, 401, "UNAUTHENTICATED")
    assert await sign_in(client, "careful.fan", "brand-new-password")


async def test_an_operator_demoted_in_the_database_loses_the_operator_endpoints_at_once(
    client: Client, services: Services
) -> None:
    admin = await create_user(services, role="admin")  # the token says "admin"
    concert = await client.post("/api/v1/admin/concerts", json={"title": "Before"}, headers=admin.headers)
    assert concert.status_code == 201, concert.text
    dashboard = f"/api/v1/admin/concerts/{concert.json()['id']}/dashboard"
    assert (await client.get(dashboard, headers=admin.headers)).status_code == 200

    async with services.uow() as uow:
        await uow.conn.execute("UPDATE users SET role = 'fan' WHERE id = $1", admin.id)
        await uow.commit()

    after = await client.post("/api/v1/admin/concerts", json={"title": "After"}, headers=admin.headers)
    assert_problem(after, 403, "FORBIDDEN")
    assert_problem(await client.get(dashboard, headers=admin.headers), 403, "FORBIDDEN")
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM concerts") == 1


async def test_a_signed_out_operator_token_is_refused_on_operator_endpoints(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    assert (await client.delete("/api/v1/auth/token", headers=admin.headers)).status_code == 204
    refused = await client.post("/api/v1/admin/concerts", json={"title": "Never"}, headers=admin.headers)
    assert_problem(refused, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("version", ["0", True, -1, 2**31, 1.0, None])
async def test_a_token_version_that_is_not_a_small_integer_is_unauthenticated(
    client: Client, services: Services, settings: Settings, version: Any
) -> None:
    """Signed by the service's key (a leaked key or a future bug), still not a 500."""
    fan = await create_user(services)
    claims = {"sub": str(fan.id), "name": fan.name, "role": "fan", "ver": version, "exp": int(time.time()) + 60}
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert_problem(await charge(client, fan.wallet_id, token), 401, "UNAUTHENTICATED")
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(token)), 401, "UNAUTHENTICATED")


async def test_account_checks_waiting_together_are_one_read_and_each_gets_its_own_answer(
    services: Services,
) -> None:
    """Every write checks its caller's account (``UserService.current``); the checks that wait at
    the same moment share one read, and a revoked, a demoted or a missing account is still told
    apart from the rest."""
    fans = [await create_user(services) for _ in range(30)]
    signed_out, demoted_admin = fans[:10], await create_user(services, role="admin")
    for fan in signed_out:
        await services.users.sign_out(fan.principal)
    async with services.uow() as uow:
        await uow.conn.execute("UPDATE users SET role = 'fan' WHERE id = $1", demoted_admin.id)
        await uow.commit()
    missing = dataclasses.replace(fans[-1].principal, user_id=fans[-1].id + 1_000)

    reads: list[int] = []

    class CountedUsers(UserRepository):
        async def account_states(self, user_ids: Collection[int]) -> dict[int, AccountState]:
            reads.append(len(user_ids))
            return await super().account_states(user_ids)

    services.uow.repositories[UserRepository] = CountedUsers
    callers = [fan.principal for fan in fans] + [demoted_admin.principal, missing]
    answers = await asyncio.gather(*(services.users.current(p) for p in callers), return_exceptions=True)

    assert all(isinstance(a, Unauthenticated) for a in answers[:10])  # signed out
    assert answers[10:30] == [fan.principal for fan in fans[10:]]
    assert isinstance(answers[30], Principal) and answers[30].role == "fan"  # the account's role, now
    assert isinstance(answers[31], Unauthenticated)  # no such account
    assert reads == [len(callers)]  # all were waiting when the read went: one read

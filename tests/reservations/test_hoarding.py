"""Anti-hoarding: live holds of one date from one client address are capped
(TICKETING_MAX_HOLDS_PER_ADDRESS), whatever the accounts; the operators see the top holders.

Every request of the test client comes from one address, as throwaway accounts behind one
machine would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import (
    TestUser,
    admitted_token,
    create_concert,
    create_schedule,
    create_user,
    lapse_hold,
    outcome_codes,
)
from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.container import Services

Client = AsyncTestClient[Litestar]
CAP = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A small pool: the racers still overlap, and the shared PostgreSQL keeps clients for others.
    return settings.model_copy(update={"max_holds_per_address": CAP, "db_pool_size": 10})


async def fans(services: Services, concert: int, count: int) -> list[tuple[TestUser, str]]:
    users = [await create_user(services) for _ in range(count)]
    return [(user, await admitted_token(services, user, concert)) for user in users]


async def hold(client: Client, fan: tuple[TestUser, str], seat_id: int) -> Any:
    user, token = fan
    headers = {**user.headers, "X-Queue-Token": token}
    return await client.post("/api/v1/reservations", json={"seat_id": seat_id}, headers=headers)


async def live_holds(services: Services, schedule_id: int) -> int:
    async with services.uow() as uow:
        sql = "SELECT count(*) FROM reservations WHERE schedule_id = $1 AND status = 'HELD' AND held_until > now()"
        return int(await uow.conn.fetchval(sql, schedule_id))


async def test_throwaway_accounts_from_one_address_hold_at_most_the_cap(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    first = await create_schedule(services, concert, seats=10)
    second = await create_schedule(services, concert, seats=10)
    accounts = await fans(services, concert, CAP + 2)

    for fan, seat in zip(accounts[:CAP], first.seats, strict=False):
        answer = await hold(client, fan, seat.id)
        assert answer.status_code == 201, answer.text
    refused = assert_problem(await hold(client, accounts[CAP], first.seats[CAP].id), 409, "HOLD_LIMIT_REACHED")
    assert "address" in refused["detail"]
    assert await live_holds(services, first.id) == CAP  # the refusal held nothing

    # The cap is per date: the same address may hold seats of another date of the concert.
    assert (await hold(client, accounts[CAP], second.seats[0].id)).status_code == 201

    # A released hold and a lapsed one no longer count.
    released_id = (await client.get("/api/v1/reservations", headers=accounts[0][0].headers)).json()["items"][0]["id"]
    assert (
        await client.delete(f"/api/v1/reservations/{released_id}", headers=accounts[0][0].headers)
    ).status_code == 204
    assert (await hold(client, accounts[CAP], first.seats[CAP].id)).status_code == 201
    assert_problem(await hold(client, accounts[CAP + 1], first.seats[CAP + 1].id), 409, "HOLD_LIMIT_REACHED")
    lapsed_id = (await client.get("/api/v1/reservations", headers=accounts[1][0].headers)).json()["items"][0]["id"]
    await lapse_hold(services, lapsed_id)
    assert (await hold(client, accounts[CAP + 1], first.seats[CAP + 1].id)).status_code == 201
    assert await live_holds(services, first.id) == CAP


async def test_holds_from_other_addresses_are_counted_apart(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=10)
    accounts = await fans(services, concert, 2 * CAP)
    for index, (fan, token) in enumerate(accounts):
        address = "198.51.100.1" if index < CAP else "198.51.100.2"
        await services.reservations.hold_seat(fan.principal, token, schedule.seats[index].id, client_address=address)
    assert await live_holds(services, schedule.id) == 2 * CAP


async def test_the_dashboard_shows_the_top_holders(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=10)
    hoarders = await fans(services, concert, 3)
    [(family, family_token)] = await fans(services, concert, 1)
    for index, (fan, token) in enumerate(hoarders):
        await services.reservations.hold_seat(
            fan.principal, token, schedule.seats[index].id, client_address="203.0.113.9"
        )
    for seat in schedule.seats[3:5]:
        await services.reservations.hold_seat(family.principal, family_token, seat.id, client_address="192.0.2.4")

    answer = await client.get(f"/api/v1/admin/concerts/{concert}/dashboard", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    top = answer.json()["top_holders"]
    assert top["addresses"] == [
        {"schedule_id": schedule.id, "address": "203.0.113.9", "holds": 3, "accounts": 3},
        {"schedule_id": schedule.id, "address": "192.0.2.4", "holds": 2, "accounts": 1},
    ]
    assert top["accounts"][0] == {"user_id": family.id, "name": family.name, "holds": 2}
    assert sorted(a["user_id"] for a in top["accounts"][1:]) == sorted(fan.id for fan, _ in hoarders)


async def test_many_accounts_from_one_address_racing_get_exactly_the_cap(services: Services) -> None:
    """Real transactions on separate connections, all at once (the test client sends one request
    at a time): without the address's lock every racer counts the others' holds as absent."""
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=20)
    accounts = await fans(services, concert, 20)
    outcomes = await asyncio.gather(
        *(
            services.reservations.hold_seat(fan.principal, token, seat.id, client_address="203.0.113.1")
            for (fan, token), seat in zip(accounts, schedule.seats, strict=True)
        ),
        return_exceptions=True,
    )
    codes = outcome_codes(outcomes)
    assert codes.count("OK") == CAP
    assert codes.count("HOLD_LIMIT_REACHED") == 20 - CAP
    assert await live_holds(services, schedule.id) == CAP

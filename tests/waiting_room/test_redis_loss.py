"""Redis is not the only copy of what a fan paid for: after Redis lost every queue (restarted
empty), a fan's live hold in PostgreSQL proves their admission; everyone else queues again."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cluster_support import flush_all
from tests.factories import TestUser, admitted_token, create_concert, create_schedule, create_user, lapse_hold
from tests.support import assert_problem
from ticketing.container import Services

Client = AsyncTestClient[Litestar]


def with_token(user: TestUser, token: str) -> dict[str, str]:
    return {**user.headers, "X-Queue-Token": token}


async def hold(client: Client, user: TestUser, token: str, seat_id: int) -> Any:
    return await client.post("/api/v1/reservations", json={"seat_id": seat_id}, headers=with_token(user, token))


async def pay(client: Client, user: TestUser, token: str, reservation_id: int) -> Any:
    body = {"reservation_id": reservation_id}
    return await client.post("/api/v1/payments", json=body, headers=with_token(user, token))


async def test_a_fan_holding_a_seat_pays_it_after_redis_lost_the_queue(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3, price=1_000)
    fan = await create_user(services, balance=10_000)
    token = await admitted_token(services, fan, concert)
    first = (await hold(client, fan, token, schedule.seats[0].id)).json()["id"]

    await flush_all(services.redis)  # Redis restarted empty: every queue token is unknown to it

    # The hold proves the admission: the fan still reads the seats, holds another and pays.
    seats = await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=with_token(fan, token))
    assert seats.status_code == 200, seats.text
    second = await hold(client, fan, token, schedule.seats[1].id)
    assert second.status_code == 201, second.text
    paid = await pay(client, fan, token, first)
    assert paid.status_code == 201, paid.text

    # The payment finished the token, as it finishes any: no more holds or payments with it,
    # even while the fan still holds a seat.
    assert_problem(await hold(client, fan, token, schedule.seats[2].id), 401, "TOKEN_INVALID")
    assert_problem(await pay(client, fan, token, second.json()["id"]), 401, "TOKEN_INVALID")


async def test_an_admitted_fan_without_a_hold_queues_again(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=1)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    await flush_all(services.redis)

    headers = with_token(fan, token)
    assert_problem(await client.get("/api/v1/queue/tokens/me", headers=headers), 401, "TOKEN_INVALID")
    assert_problem(await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=headers), 401, "TOKEN_INVALID")
    assert_problem(await hold(client, fan, token, schedule.seats[0].id), 401, "TOKEN_INVALID")
    again = await client.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=fan.headers)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "WAITING"
    assert again.json()["position"] == 1


async def test_a_hold_that_lapsed_during_the_outage_is_not_extended(client: Client, services: Services) -> None:
    """Holds run on the database's clock, outage or not: the service cannot tell a fan an
    outage kept away from one who walked away, and the seat goes back on sale."""
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=1, price=1_000)
    fan, rival = await create_user(services, balance=5_000), await create_user(services)
    token = await admitted_token(services, fan, concert)
    reservation = (await hold(client, fan, token, schedule.seats[0].id)).json()["id"]
    await flush_all(services.redis)
    await lapse_hold(services, reservation)

    assert_problem(await pay(client, fan, token, reservation), 401, "TOKEN_INVALID")  # no live hold: queue again
    rival_token = await admitted_token(services, rival, concert)
    taken = await hold(client, rival, rival_token, schedule.seats[0].id)
    assert taken.status_code == 201, taken.text

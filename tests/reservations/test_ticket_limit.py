"""The per-fan ticket limit (docs/api.md): a fan's held (live) plus paid seats of one date
never pass TICKETING_MAX_TICKETS_PER_FAN; refunded, cancelled and expired seats stop counting; a
hold that would pass it is 409 TICKET_LIMIT_REACHED and holds nothing; the fan sees what is left
at GET /api/v1/schedules/{id}/allowance. Over HTTP, one request at a time (the races are in
tests/concurrency/test_ticket_limit_races.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import TestUser, admitted_token, create_concert, create_schedule, create_user, lapse_hold
from tests.support import Client, assert_problem
from ticketing.config import Settings
from ticketing.container import Services

LIMIT = 4  # the default of TICKETING_MAX_TICKETS_PER_FAN
HOLD_CAP = 6  # above the limit, so that the limit is what these tests meet first


@pytest.fixture
def settings(settings: Settings) -> Settings:
    assert settings.max_tickets_per_fan == LIMIT
    return settings.model_copy(update={"max_holds_per_user": HOLD_CAP})


class Fan:
    """A fan at one concert, over HTTP; a payment finishes the queue token, so ``join`` again."""

    def __init__(self, client: Client, services: Services, user: TestUser, concert: int) -> None:
        self.client, self.services, self.user, self.concert = client, services, user, concert
        self.token = ""

    async def join(self) -> Fan:
        self.token = await admitted_token(self.services, self.user, self.concert)
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {**self.user.headers, "X-Queue-Token": self.token}

    async def hold(self, *seat_ids: int) -> httpx.Response:
        body: dict[str, Any] = {"seat_id": seat_ids[0]} if len(seat_ids) == 1 else {"seat_ids": list(seat_ids)}
        return await self.client.post("/api/v1/reservations", json=body, headers=self.headers)

    async def held(self, *seat_ids: int) -> list[int]:
        """Hold the seats (201), and the reservation ids."""
        answer = await self.hold(*seat_ids)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return [r["id"] for r in body["items"]] if "items" in body else [body["id"]]

    async def pay(self, reservation_ids: list[int]) -> list[int]:
        answer = await self.client.post(
            "/api/v1/payments", json={"reservation_ids": reservation_ids}, headers=self.headers
        )
        assert answer.status_code == 201, answer.text
        await self.join()  # the payment finished the token
        return [p["id"] for p in answer.json()["items"]]

    async def allowance(self, schedule_id: int) -> dict[str, Any]:
        answer = await self.client.get(f"/api/v1/schedules/{schedule_id}/allowance", headers=self.user.headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body: dict[str, Any] = answer.json()
        return body


async def a_fan(client: Client, services: Services, concert: int) -> Fan:
    return await Fan(client, services, await create_user(services, balance=1_000_000), concert).join()


async def seats_held_by(services: Services, user_id: int, schedule_id: int) -> list[str]:
    """The statuses of the fan's reservations of the date, as stored, by seat."""
    async with services.uow(autocommit=True) as uow:
        rows = await uow.conn.fetch(
            "SELECT status FROM reservations WHERE user_id = $1 AND schedule_id = $2 ORDER BY seat_id",
            user_id,
            schedule_id,
        )
    return [row[0] for row in rows]


def assert_limit_reached(answer: httpx.Response, remaining: int) -> None:
    problem = assert_problem(answer, 409, "TICKET_LIMIT_REACHED")
    assert (problem["max_tickets"], problem["remaining"]) == (LIMIT, remaining)


async def test_held_and_paid_seats_of_a_date_count_together(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=8)
    seats = [seat.id for seat in schedule.seats]
    fan = await a_fan(client, services, concert)
    assert await fan.allowance(schedule.id) == {
        "schedule_id": schedule.id,
        "max_tickets": LIMIT,
        "held": 0,
        "paid": 0,
        "remaining": LIMIT,
    }

    await fan.pay(await fan.held(seats[0], seats[1]))  # paying no longer lifts a cap: paid seats count
    allowance = await fan.allowance(schedule.id)
    assert (allowance["held"], allowance["paid"], allowance["remaining"]) == (0, 2, 2)
    await fan.held(seats[2], seats[3])
    allowance = await fan.allowance(schedule.id)
    assert (allowance["held"], allowance["paid"], allowance["remaining"]) == (2, 2, 0)

    assert_limit_reached(await fan.hold(seats[4]), remaining=0)  # the 5th seat
    assert await seats_held_by(services, fan.user.id, schedule.id) == ["CONFIRMED"] * 2 + ["HELD"] * 2
    seat_list = await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=fan.headers)
    assert {s["id"]: s["available"] for s in seat_list.json()}[seats[4]] is True  # nothing was held

    # Another fan of the same date is not concerned.
    other = await a_fan(client, services, concert)
    await other.held(seats[4], seats[5], seats[6], seats[7])


async def test_a_several_seat_hold_that_would_pass_the_limit_holds_nothing(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=6)
    seats = [seat.id for seat in schedule.seats]
    fan = await a_fan(client, services, concert)
    await fan.held(seats[0], seats[1], seats[2])

    assert_limit_reached(await fan.hold(seats[3], seats[4]), remaining=1)
    assert await seats_held_by(services, fan.user.id, schedule.id) == ["HELD"] * 3
    await fan.held(seats[4])  # one more is allowed
    assert_limit_reached(await fan.hold(seats[3]), remaining=0)


async def test_cancelled_expired_and_refunded_seats_stop_counting(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=8)
    seats = [seat.id for seat in schedule.seats]
    fan = await a_fan(client, services, concert)
    payments = await fan.pay(await fan.held(seats[0], seats[1]))
    holds = await fan.held(seats[2], seats[3])
    assert_limit_reached(await fan.hold(seats[4]), remaining=0)

    cancelled = await client.delete(f"/api/v1/reservations/{holds[0]}", headers=fan.user.headers)
    assert cancelled.status_code == 204
    [fifth] = await fan.held(seats[4])
    assert_limit_reached(await fan.hold(seats[5]), remaining=0)

    await lapse_hold(services, fifth)  # expired, whether or not the sweeper has been by
    assert (await fan.allowance(schedule.id))["remaining"] == 1
    await fan.held(seats[5])
    assert_limit_reached(await fan.hold(seats[6]), remaining=0)

    refunded = await client.post(f"/api/v1/payments/{payments[0]}/refund", headers=fan.user.headers)
    assert refunded.status_code == 200, refunded.text
    allowance = await fan.allowance(schedule.id)
    assert (allowance["held"], allowance["paid"], allowance["remaining"]) == (2, 1, 1)
    await fan.held(seats[6])
    assert_limit_reached(await fan.hold(seats[7]), remaining=0)


async def test_another_date_is_counted_apart(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    first = await create_schedule(services, concert, seats=5)
    second = await create_schedule(services, concert, seats=5)
    fan = await a_fan(client, services, concert)
    await fan.pay(await fan.held(*[seat.id for seat in first.seats[:LIMIT]]))
    assert_limit_reached(await fan.hold(first.seats[LIMIT].id), remaining=0)

    await fan.held(*[seat.id for seat in second.seats[:LIMIT]])
    assert (await fan.allowance(first.id))["remaining"] == 0
    allowance = await fan.allowance(second.id)
    assert (allowance["held"], allowance["paid"], allowance["remaining"]) == (LIMIT, 0, 0)


async def test_the_allowance_is_bounded_by_the_hold_cap_too(client: Client, services: Services) -> None:
    """Live holds of other dates count against the per-fan hold cap (TICKETING_MAX_HOLDS_PER_USER):
    ``remaining`` says what a hold of this date can really take now."""
    concert = await create_concert(services)
    first, second, third = [await create_schedule(services, concert, seats=4) for _ in range(3)]
    fan = await a_fan(client, services, concert)
    await fan.held(*[seat.id for seat in first.seats[:4]])
    await fan.held(*[seat.id for seat in second.seats[: HOLD_CAP - 5]])
    allowance = await fan.allowance(third.id)
    assert allowance == {"schedule_id": third.id, "max_tickets": LIMIT, "held": 0, "paid": 0, "remaining": 1}
    await fan.held(third.seats[0].id)
    assert (await fan.allowance(third.id))["remaining"] == 0
    assert_problem(await fan.hold(third.seats[1].id), 409, "HOLD_LIMIT_REACHED")


async def test_the_allowance_needs_the_bearer_and_a_known_date(client: Client, services: Services) -> None:
    fan = await create_user(services)
    assert_problem(await client.get("/api/v1/schedules/1/allowance"), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.get("/api/v1/schedules/999999/allowance", headers=fan.headers), 404, "SCHEDULE_NOT_FOUND"
    )
    assert_problem(await client.get("/api/v1/schedules/x/allowance", headers=fan.headers), 422, "VALIDATION_ERROR")
    signed_out = await client.delete("/api/v1/auth/token", headers=fan.headers)
    assert signed_out.status_code == 204
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert)
    answer = await client.get(f"/api/v1/schedules/{schedule.id}/allowance", headers=fan.headers)
    assert_problem(answer, 401, "UNAUTHENTICATED")  # signing out means out

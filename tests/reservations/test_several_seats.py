"""Holding several seats at once (docs/api.md): the rules, through the service and over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.factories import create_concert, create_schedule, fans_with_tokens
from tests.support import Client, assert_problem
from ticketing.container import Services
from ticketing.kernel.errors import AppError


async def _code(call: Awaitable[object]) -> tuple[str, dict[str, object]]:
    try:
        await call
    except AppError as error:
        return error.code, error.extra
    raise AssertionError("expected a refusal")


async def _held(services: Services, seat_ids: list[int]) -> list[int]:
    async with services.uow(autocommit=True) as uow:
        rows = await uow.conn.fetch(
            "SELECT seat_id FROM reservations WHERE seat_id = ANY($1::bigint[]) AND status = 'HELD' ORDER BY seat_id",
            seat_ids,
        )
    return [row[0] for row in rows]


async def test_several_seats_are_held_together_in_the_order_asked(services: Services) -> None:
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=5, price=30_000)).seats]
    [(fan, token)] = await fans_with_tokens(services, concert, 1)
    held = await services.reservations.hold_seats(fan.principal, token, [seats[3], seats[0], seats[2]])
    assert [r.seat_id for r in held] == [seats[3], seats[0], seats[2]]
    assert {r.status for r in held} == {"HELD"}
    assert [r.seat_number for r in held] == [4, 1, 3]
    assert await _held(services, seats) == sorted([seats[0], seats[2], seats[3]])


async def test_one_taken_seat_holds_none_and_names_it(services: Services) -> None:
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=4)).seats]
    (first, first_token), (second, second_token) = await fans_with_tokens(services, concert, 2)
    await services.reservations.hold_seat(first.principal, first_token, seats[1])
    code, extra = await _code(services.reservations.hold_seats(second.principal, second_token, seats[:3]))
    assert (code, extra["unavailable_seat_ids"]) == ("SEAT_UNAVAILABLE", [seats[1]])
    assert await _held(services, seats) == [seats[1]]  # nothing of the second fan's set was held


@pytest.mark.parametrize(
    ("pick", "code"),
    [
        (lambda s: [s[0], s[0]], "VALIDATION_ERROR"),  # not distinct
        (lambda s: s[:5], "VALIDATION_ERROR"),  # more than TICKETING_MAX_SEATS_PER_HOLD (4)
        (lambda s: [], "VALIDATION_ERROR"),
        (lambda s: [s[0], 999_999_999], "SEAT_NOT_FOUND"),
    ],
)
async def test_selections_that_cannot_be_held(
    services: Services, pick: Callable[[list[int]], list[int]], code: str
) -> None:
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=6)).seats]
    [(fan, token)] = await fans_with_tokens(services, concert, 1)
    assert (await _code(services.reservations.hold_seats(fan.principal, token, pick(seats))))[0] == code
    assert await _held(services, seats) == []


async def test_seats_of_two_dates_cannot_be_held_together(services: Services) -> None:
    concert = await create_concert(services)
    one = (await create_schedule(services, concert, seats=2)).seats[0].id
    other = (await create_schedule(services, concert, seats=2)).seats[0].id
    [(fan, token)] = await fans_with_tokens(services, concert, 1)
    assert (await _code(services.reservations.hold_seats(fan.principal, token, [one, other])))[0] == "VALIDATION_ERROR"
    assert await _held(services, [one, other]) == []


async def test_the_per_fan_cap_counts_seats(services: Services) -> None:
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=6)).seats]
    [(fan, token)] = await fans_with_tokens(services, concert, 1)
    await services.reservations.hold_seats(fan.principal, token, seats[:3])  # 3 of the 4 allowed
    assert (await _code(services.reservations.hold_seats(fan.principal, token, seats[3:5])))[0] == "HOLD_LIMIT_REACHED"
    assert await _held(services, seats) == seats[:3]
    await services.reservations.hold_seats(fan.principal, token, seats[3:4])  # the fourth fits
    assert await _held(services, seats) == seats[:4]


async def test_over_http_several_seats_are_held_and_paid_in_one_request(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=4, price=25_000)).seats]
    (fan, token), (rival, rival_token) = await fans_with_tokens(services, concert, 2, balance=100_000)
    fan_headers = {**fan.headers, "X-Queue-Token": token}
    rival_headers = {**rival.headers, "X-Queue-Token": rival_token}

    held = await client.post("/api/v1/reservations", json={"seat_ids": [seats[1], seats[0]]}, headers=fan_headers)
    assert held.status_code == 201, held.text
    items = held.json()["items"]
    assert [(r["seat_id"], r["status"]) for r in items] == [(seats[1], "HELD"), (seats[0], "HELD")]

    taken = await client.post("/api/v1/reservations", json={"seat_ids": seats[:3]}, headers=rival_headers)
    problem = assert_problem(taken, 409, "SEAT_UNAVAILABLE")
    assert (problem["unavailable_seat_ids"], problem["reason"]) == (seats[:2], "taken")  # reason: machine-readable
    bodies: tuple[dict[str, object], ...] = (
        {"seat_id": seats[2], "seat_ids": [seats[3]]},
        {},
        {"seat_ids": []},
        {"seat_ids": [0]},
    )
    for body in bodies:
        assert_problem(
            await client.post("/api/v1/reservations", json=body, headers=rival_headers), 422, "VALIDATION_ERROR"
        )
    assert await _held(services, seats) == seats[:2]  # the rival held nothing

    ids = [r["id"] for r in items]
    paid = await client.post("/api/v1/payments", json={"reservation_ids": ids}, headers=fan_headers)
    assert paid.status_code == 201, paid.text
    assert [(p["reservation_id"], p["amount"]) for p in paid.json()["items"]] == [(ids[0], 25_000), (ids[1], 25_000)]
    again = await client.post("/api/v1/payments", json={"reservation_ids": ids}, headers=fan_headers)
    assert again.status_code in (401, 409)  # the token is finished by the payment; nothing is paid twice
    async with services.uow(autocommit=True) as uow:
        assert await uow.conn.fetchval("SELECT balance FROM wallets WHERE id = $1", fan.wallet_id) == 50_000

"""Best available: seats of a class side by side in one row when such a block is free, all or
nothing, under the caps of any hold."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from tests.factories import admitted_token, create_concert, create_user, create_venue_date
from tests.support import Client, assert_problem
from ticketing.container import Services
from ticketing.kernel.errors import AppError
from ticketing.schedules.schemas import ScheduleCreatedOut


def rows_plan(rows: list[list[str]]) -> dict[str, Any]:
    """One zone; row r holds a seat of class ``rows[r][s]`` at each place s, left to right (listed
    right to left in the plan: the seats of a row are ordered by position)."""
    return {
        "name": "Club",
        "categories": [{"name": "VIP"}, {"name": "R"}],
        "zones": [
            {
                "name": "Main",
                "position": {"x": 0, "y": 0},
                "rows": [
                    {
                        "row_number": str(r + 1),
                        "seats": [
                            {
                                "seat_guid": f"{r}-{s}",
                                "seat_number": str(s + 1),
                                "position": {"x": s * 10, "y": r * 10},
                                "category": category,
                            }
                            for s, category in reversed(list(enumerate(row)))
                        ],
                    }
                    for r, row in enumerate(rows)
                ],
            }
        ],
    }


async def date_on(services: Services, concert: int, plan: dict[str, Any]) -> ScheduleCreatedOut:
    return (await create_venue_date(services, concert, plan, {"VIP": 100_000, "R": 50_000}, name="Club"))[1]


async def seats_by_label(services: Services, schedule_id: int) -> dict[tuple[str, str], int]:
    async with services.uow(autocommit=True) as uow:
        rows = await uow.conn.fetch("SELECT row, label, id FROM seats WHERE schedule_id = $1", schedule_id)
    return {(row[0], row[1]): row[2] for row in rows}


async def test_best_available_takes_a_block_side_by_side(services: Services) -> None:
    concert = await create_concert(services)
    date = await date_on(services, concert, rows_plan([["VIP"] * 6, ["R"] * 6]))
    ids = await seats_by_label(services, date.id)
    label = {seat_id: key for key, seat_id in ids.items()}
    other = await create_user(services)
    other_token = await admitted_token(services, other, concert)
    # Row 1 left with 1 _ 3 4 _ 6 free: the only pair side by side is 3-4.
    await services.reservations.hold_seats(other.principal, other_token, [ids[("1", "2")], ids[("1", "5")]])
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    pair = await services.reservations.hold_best_available(fan.principal, token, date.id, "VIP", 2)
    assert sorted(label[r.seat_id] for r in pair) == [("1", "3"), ("1", "4")]
    assert {r.price for r in pair} == {100_000} and {r.status for r in pair} == {"HELD"}
    # No two VIP seats side by side now (1 and 6 are left): any two of the class.
    rival = await create_user(services)
    rival_token = await admitted_token(services, rival, concert)
    apart = await services.reservations.hold_best_available(rival.principal, rival_token, date.id, "VIP", 2)
    assert sorted(label[r.seat_id] for r in apart) == [("1", "1"), ("1", "6")]
    # None left: 409, nothing held.
    third = await create_user(services)
    third_token = await admitted_token(services, third, concert)
    with pytest.raises(AppError) as refused:
        await services.reservations.hold_best_available(third.principal, third_token, date.id, "VIP", 1)
    assert refused.value.code == "SEAT_UNAVAILABLE"
    # A block of three in the R row.
    trio = await services.reservations.hold_best_available(third.principal, third_token, date.id, "R", 3)
    assert sorted(label[r.seat_id] for r in trio) == [("2", "1"), ("2", "2"), ("2", "3")] or sorted(
        label[r.seat_id] for r in trio
    ) == [("2", "4"), ("2", "5"), ("2", "6")]


async def test_the_fans_hold_cap_counts_best_available_and_chosen_seats_together(services: Services) -> None:
    concert = await create_concert(services)
    date = await date_on(services, concert, rows_plan([["VIP"] * 8, ["R"] * 8]))
    ids = await seats_by_label(services, date.id)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    cap = services.settings.max_holds_per_user
    await services.reservations.hold_seats(fan.principal, token, [ids[("2", str(n))] for n in range(1, cap)])
    with pytest.raises(AppError) as refused:
        await services.reservations.hold_best_available(fan.principal, token, date.id, "VIP", 2)
    assert refused.value.code == "HOLD_LIMIT_REACHED"
    async with services.uow(autocommit=True) as uow:
        held = await uow.conn.fetchval("SELECT count(*) FROM seats WHERE schedule_id = $1 AND status = 'HELD'", date.id)
    assert held == cap - 1  # nothing more was held
    [last] = await services.reservations.hold_best_available(fan.principal, token, date.id, "VIP", 1)
    assert last.price == 100_000


async def test_best_available_over_http(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    date = await date_on(services, concert, rows_plan([["VIP"] * 4]))
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    url = "/api/v1/reservations"
    held = await client.post(url, json={"schedule_id": date.id, "class": "VIP", "quantity": 2}, headers=headers)
    assert held.status_code == 201, held.text
    items = held.json()["items"]
    assert len(items) == 2 and {i["schedule_id"] for i in items} == {date.id}
    bad = [
        {"schedule_id": date.id, "class": "VIP"},
        {"schedule_id": date.id, "class": "VIP", "quantity": 0},
        {"schedule_id": date.id, "class": "VIP", "quantity": 21},
        {"schedule_id": date.id, "class": "VIP", "quantity": 2, "seat_id": 1},
        {"class": "VIP", "quantity": 2},
        {"schedule_id": date.id, "class": "Box", "quantity": 1},
        {"schedule_id": date.id, "class": "VIP", "quantity": services.settings.max_seats_per_hold + 1},
    ]
    for body in bad:
        assert_problem(await client.post(url, json=body, headers=headers), 422, "VALIDATION_ERROR")
    other = await create_user(services)
    other_headers = {**other.headers, "X-Queue-Token": await admitted_token(services, other, concert)}
    too_many = {"schedule_id": date.id, "class": "VIP", "quantity": 3}
    assert_problem(await client.post(url, json=too_many, headers=other_headers), 409, "SEAT_UNAVAILABLE")
    missing = {"schedule_id": 999_999, "class": "VIP", "quantity": 1}
    assert_problem(await client.post(url, json=missing, headers=other_headers), 404, "SCHEDULE_NOT_FOUND")
    assert msgspec.json.decode(held.content)["items"][0]["status"] == "HELD"


async def test_the_ticket_limit_counts_best_available_and_chosen_seats_together(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-fan limit of a date (held + paid) is checked in the one hold transaction that
    best available and chosen seats share: under the fan's lock, whichever way the seats came."""
    monkeypatch.setattr(services.reservations, "max_holds_per_user", 20)  # the ticket limit decides
    monkeypatch.setattr(services.reservations, "max_tickets_per_fan", 4)
    concert = await create_concert(services)
    date = await date_on(services, concert, rows_plan([["VIP"] * 8, ["R"] * 8, ["R"] * 8]))
    ids = await seats_by_label(services, date.id)
    fan = await create_user(services, balance=1_000_000)
    token = await admitted_token(services, fan, concert)
    chosen = await services.reservations.hold_seats(fan.principal, token, [ids[("2", "1")]])
    await services.payments.pay(fan.principal, token, [chosen[0].id], None)  # one paid seat counts too
    token = await admitted_token(services, fan, concert)  # the payment finished the first token
    with pytest.raises(AppError) as refused:
        await services.reservations.hold_best_available(fan.principal, token, date.id, "R", 4)
    assert refused.value.code == "TICKET_LIMIT_REACHED"
    # Several best-available requests of the fan at once: no two pass the limit together.
    outcomes = await asyncio.gather(
        *(services.reservations.hold_best_available(fan.principal, token, date.id, "VIP", 2) for _ in range(5)),
        return_exceptions=True,
    )
    held = [o for o in outcomes if not isinstance(o, BaseException)]
    codes = [o.code for o in outcomes if isinstance(o, AppError)]
    # One pair passes (1 paid + 2 held); each of the others is refused by the limit, or first loses
    # its picks to the racers' Redis locks until too few seats are left to pick (SEAT_UNAVAILABLE).
    assert len(held) == 1 and len(codes) == 4, outcomes
    assert set(codes) <= {"TICKET_LIMIT_REACHED", "SEAT_UNAVAILABLE"}, outcomes
    with pytest.raises(AppError) as refused:
        await services.reservations.hold_seats(fan.principal, token, [ids[("3", "1")], ids[("3", "2")]])
    assert refused.value.code == "TICKET_LIMIT_REACHED"
    [last] = await services.reservations.hold_seats(fan.principal, token, [ids[("3", "1")]])
    async with services.uow(autocommit=True) as uow:
        taken = await uow.conn.fetchval(
            "SELECT count(*) FROM seats WHERE schedule_id = $1 AND status IN ('HELD', 'SOLD')", date.id
        )
    assert taken == 4 and last.schedule_id == date.id

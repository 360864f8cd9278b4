"""Racing best-available requests: 50 fans ask at once for pairs of a class with 15 seats
(three rows of five): every seat is held at most once, each request gets both of its seats or
nothing, and exactly floor(15 / 2) = 7 succeed (six pairs side by side, then the last two of
the class, wherever they are)."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import create_concert, create_venue_date, fans_with_tokens, outcome_codes
from ticketing.container import Services
from ticketing.kernel.errors import AppError
from ticketing.kernel.locking import SEAT_LOCK_STRATEGIES, SeatLockStrategy
from ticketing.reservations.schemas import ReservationOut

CLASS_ROWS, PER_ROW, QUANTITY, FANS = 3, 5, 2, 50


def plan() -> dict[str, object]:
    rows = []
    for r in range(CLASS_ROWS + 1):  # the last row is of another class: never picked
        category = "VIP" if r < CLASS_ROWS else "R"
        seats = [
            {"seat_guid": f"{r}-{s}", "seat_number": str(s + 1), "position": {"x": s, "y": r}, "category": category}
            for s in range(PER_ROW)
        ]
        rows.append({"row_number": str(r + 1), "seats": seats})
    zone = {"name": "Main", "position": {"x": 0, "y": 0}, "rows": rows}
    return {"name": "Club", "categories": [{"name": "VIP"}, {"name": "R"}], "zones": [zone]}


@pytest.mark.parametrize("strategy", SEAT_LOCK_STRATEGIES)
async def test_fifty_best_available_requests_on_fifteen_seats(services: Services, strategy: SeatLockStrategy) -> None:
    services.reservations.strategy = strategy
    concert = await create_concert(services)
    _, date = await create_venue_date(services, concert, plan(), {"VIP": 100_000, "R": 50_000}, name="Club")
    fans = await fans_with_tokens(services, concert, FANS)
    outcomes = await asyncio.gather(
        *(
            services.reservations.hold_best_available(fan.principal, token, date.id, "VIP", QUANTITY)
            for fan, token in fans
        ),
        return_exceptions=True,
    )
    codes = outcome_codes(list(outcomes))
    seats = CLASS_ROWS * PER_ROW
    assert codes.count("OK") == seats // QUANTITY, outcomes
    assert codes.count("SEAT_UNAVAILABLE") == FANS - seats // QUANTITY, outcomes
    won = [o for o in outcomes if isinstance(o, list)]
    assert all(isinstance(o, AppError) or (isinstance(o, list) and len(o) == QUANTITY) for o in outcomes)
    held_ids = [r.seat_id for holds in won for r in holds if isinstance(r, ReservationOut)]
    assert len(held_ids) == len(set(held_ids)) == seats - seats % QUANTITY  # no seat twice
    async with services.uow(autocommit=True) as uow:
        rows = await uow.conn.fetch(
            "SELECT seats.id, seats.row, seats.number, seats.class_name, count(reservations.id) AS holders "
            "FROM seats LEFT JOIN reservations ON reservations.seat_id = seats.id AND reservations.status = 'HELD' "
            "WHERE seats.schedule_id = $1 GROUP BY seats.id",
            date.id,
        )
    holders = {row["id"]: row["holders"] for row in rows}
    assert all(n <= 1 for n in holders.values())
    assert sorted(seat for seat, n in holders.items() if n == 1) == sorted(held_ids)
    assert {row["class_name"] for row in rows if row["holders"]} == {"VIP"}
    # Six of the pairs are side by side in one row (two per row of five); one is the last two.
    by_id = {row["id"]: (row["row"], row["number"]) for row in rows}
    adjacent = 0
    for holds in won:
        (row_a, n_a), (row_b, n_b) = sorted(by_id[r.seat_id] for r in holds)
        adjacent += row_a == row_b and n_b == n_a + 1
    assert adjacent == CLASS_ROWS * (PER_ROW // QUANTITY)

"""The payment's "is everything else sold?" check (schedules/sql.py ``all_sold_but``) must not
walk the sold seats: near the end of a 60,000-seat sale that walk was 60,000 rows per payment.
Through the partial index of unsold seats it reads a handful of rows however many are sold:
shown by the rows the plan touches (no timings)."""

from __future__ import annotations

import json
from typing import Any

from tests.factories import create_concert, create_schedule
from ticketing.container import Services
from ticketing.schedules.sql import all_sold_but

SEATS = 4_000


def seat_rows_touched(node: dict[str, Any]) -> tuple[int, set[str]]:
    """Rows the plan's scans of ``seats`` returned or filtered out (loops counted), and the
    indexes they used."""
    rows, indexes = 0, set()
    if node.get("Relation Name") == "seats":
        loops = node.get("Actual Loops", 1)
        rows += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
        if "Index Name" in node:
            indexes.add(node["Index Name"])
    for child in node.get("Plans", []):
        more, names = seat_rows_touched(child)
        rows += more
        indexes |= names
    return rows, indexes


async def rows_of_check(
    services: Services, concert: int, paying: list[int], *, without_index: bool = False
) -> tuple[int, set[str]]:
    sql = f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT {all_sold_but('$1', 'SELECT unnest($2::bigint[])')}"
    async with services.uow() as uow:  # rolled back: the index is dropped only for this look
        if without_index:
            await uow.conn.execute("DROP INDEX ix_seats_unsold")
        plan = json.loads(await uow.conn.fetchval(sql, concert, paying))
    return seat_rows_touched(plan[0]["Plan"])


async def test_the_all_sold_but_check_reads_the_same_few_rows_however_many_are_sold(services: Services) -> None:
    # Another concert's date first: its seats have the lower ids, and are none of this check's business.
    await create_schedule(services, await create_concert(services, "Another"), seats=SEATS)
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=SEATS)
    ids = [seat.id for seat in schedule.seats]
    touched = []
    for sold in (SEATS // 100, SEATS // 2, SEATS * 9 // 10, SEATS * 99 // 100, SEATS - 3):
        async with services.uow() as uow:
            await uow.conn.execute(
                "UPDATE seats SET status = 'SOLD' WHERE schedule_id = $1 AND number <= $2", schedule.id, sold
            )
            await uow.commit()
        async with services.uow(autocommit=True) as uow:
            await uow.conn.execute("VACUUM ANALYZE seats")
        # The seats being paid for are the two after the sold ones: the check must look past them.
        rows, indexes = await rows_of_check(services, concert, ids[sold : sold + 2])
        touched.append(rows)
        assert indexes == {"ix_seats_unsold"}, (sold, indexes)
    # Through the index of unsold seats: at most the paid pair, then one unsold seat; never a
    # walk past the sold ones.
    assert max(touched) <= 5, touched
    # The same check without that index walks the sold seats (what a payment did before it).
    rows, _ = await rows_of_check(services, concert, ids[SEATS - 3 : SEATS - 1], without_index=True)
    assert rows >= SEATS - 3, rows

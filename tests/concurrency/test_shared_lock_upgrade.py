"""The seed picks a shared lock (FOR SHARE) for the hold and warns that upgrading it to a write
can deadlock. Reproduced here on real PostgreSQL — and the reason the hold path only ever takes
FOR UPDATE (see docs/locking.md)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.factories import create_concert, create_schedule
from ticketing.container import Services
from ticketing.core.locking import sqlstate_of


async def test_two_shared_locks_upgraded_to_writes_deadlock(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    first, second = await services.engine.connect(), await services.engine.connect()
    try:
        for conn in (first, second):
            await conn.begin()
            await conn.execute(text("SELECT id FROM seats WHERE id = :id FOR SHARE"), {"id": seat_id})

        async def upgrade(conn: object) -> str:
            try:
                await conn.execute(  # type: ignore[attr-defined]
                    text("UPDATE seats SET status = 'HELD', held_until = now() WHERE id = :id"), {"id": seat_id}
                )
                await conn.commit()  # type: ignore[attr-defined]
                return "committed"
            except DBAPIError as error:
                await conn.rollback()  # type: ignore[attr-defined]
                return sqlstate_of(error) or "unknown"

        outcomes = sorted(await asyncio.gather(upgrade(first), upgrade(second)))
    finally:
        await first.close()
        await second.close()
    # Each waits for the other's shared lock; PostgreSQL's deadlock detector kills one.
    assert outcomes == ["40P01", "committed"]


async def test_exclusive_locks_queue_instead_of_deadlocking(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id

    async def hold() -> str:
        async with services.engine.connect() as conn:
            await conn.begin()
            await conn.execute(text("SELECT id FROM seats WHERE id = :id FOR UPDATE"), {"id": seat_id})
            await asyncio.sleep(0.05)  # both are inside the critical section window
            result = await conn.execute(
                text(
                    "UPDATE seats SET status = 'HELD', held_until = now() + interval '5 minutes' "
                    "WHERE id = :id AND status = 'AVAILABLE'"
                ),
                {"id": seat_id},
            )
            await conn.commit()
            return "held" if result.rowcount == 1 else "refused"

    assert sorted(await asyncio.gather(hold(), hold())) == ["held", "refused"]

"""The seed picks a shared lock (FOR SHARE) for the hold and warns that upgrading it to a write
can deadlock. Reproduced here on real PostgreSQL — and the reason the hold path only ever takes
FOR UPDATE (see docs/locking.md)."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.factories import create_concert, create_schedule
from ticketing.container import Services


async def test_two_shared_locks_upgraded_to_writes_deadlock(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    async with services.pool.acquire() as first, services.pool.acquire() as second:
        transactions = [first.transaction(), second.transaction()]
        for conn, tx in zip((first, second), transactions, strict=True):
            await tx.start()
            await conn.execute("SELECT id FROM seats WHERE id = $1 FOR SHARE", seat_id)

        async def upgrade(
            conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record], tx: asyncpg.transaction.Transaction
        ) -> str:
            try:
                await conn.execute("UPDATE seats SET status = 'HELD', held_until = now() WHERE id = $1", seat_id)
                await tx.commit()
                return "committed"
            except asyncpg.PostgresError as error:
                await tx.rollback()
                return error.sqlstate or "unknown"

        outcomes = sorted(await asyncio.gather(upgrade(first, transactions[0]), upgrade(second, transactions[1])))
    # Each waits for the other's shared lock; PostgreSQL's deadlock detector kills one.
    assert outcomes == ["40P01", "committed"]


async def test_exclusive_locks_queue_instead_of_deadlocking(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id

    async def hold() -> str:
        async with services.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT id FROM seats WHERE id = $1 FOR UPDATE", seat_id)
            await asyncio.sleep(0.05)  # both are inside the critical section window
            status = await conn.execute(
                "UPDATE seats SET status = 'HELD', held_until = now() + interval '5 minutes' "
                "WHERE id = $1 AND status = 'AVAILABLE'",
                seat_id,
            )
        return "held" if status == "UPDATE 1" else "refused"

    assert sorted(await asyncio.gather(hold(), hold())) == ["held", "refused"]

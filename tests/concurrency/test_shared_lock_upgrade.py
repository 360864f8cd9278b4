"""The seed picks a shared lock (FOR SHARE) for the hold and warns that upgrading it to a write
can deadlock. Reproduced here on real PostgreSQL — and the reason the hold path only ever takes
FOR UPDATE (see docs/locking.md)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.factories import create_concert, create_schedule
from ticketing.container import Services
from ticketing.kernel.locking import TransientConflict
from ticketing.schedules.repository import SeatRepository

HOLD = timedelta(minutes=5)


async def test_two_shared_locks_upgraded_to_writes_deadlock(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    both_locked = asyncio.Barrier(2)

    async def shared_then_write() -> str:
        async with services.uow() as uow:
            seats = uow.repo(SeatRepository)
            await uow.conn.fetchrow("SELECT id FROM seats WHERE id = $1 FOR SHARE", seat_id)  # the seed's S-lock
            await both_locked.wait()  # each now holds a shared lock the other's write must wait for
            try:
                await seats.mark_held(seat_id, HOLD)
            except TransientConflict:  # 40P01, translated by the repository
                return "deadlock"
            await uow.commit()
            return "committed"

    # Each waits for the other's shared lock; PostgreSQL's deadlock detector kills one.
    assert sorted(await asyncio.gather(shared_then_write(), shared_then_write())) == ["committed", "deadlock"]


async def test_exclusive_locks_queue_instead_of_deadlocking(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id

    async def hold() -> str:
        async with services.uow() as uow:
            seats = uow.repo(SeatRepository)
            seat = await seats.lock(seat_id)
            await asyncio.sleep(0.05)  # both are inside the critical section window
            if seat is None or not seat.free:
                return "refused"
            await seats.mark_held(seat_id, HOLD)
            await uow.commit()
        return "held"

    assert sorted(await asyncio.gather(hold(), hold())) == ["held", "refused"]

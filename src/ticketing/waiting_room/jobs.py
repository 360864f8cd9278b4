"""The admission job. Every server process runs it; a Redis lease per concert lets exactly one
process admit for that concert at a time (the admission script is atomic and rate-limited by a
sliding window in Redis, so even two admitters could not exceed the configured rate or cap)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from ticketing.kernel.jobs import PeriodicJob
from ticketing.waiting_room.service import InventoryLookup, WaitingRoomService
from ticketing.waiting_room.store import SAMPLE_SECONDS

TICK_SECONDS = 0.1
LEASE_MS = 2000
SOLD_OUT_CHECK_SECONDS = 1.0
PAUSE_CHECK_SECONDS = 1.0
PauseSetter = Callable[[int], Awaitable[None]]


def admission_job(waiting_room: WaitingRoomService, inventory: InventoryLookup | None = None) -> PeriodicJob:
    """``inventory``: the seats left for sale per concert (the schedules domain's count), which
    bounds how many admitted fans may be choosing at once."""
    owner = uuid.uuid4().hex
    sampled: dict[int, float] = {}  # concert id -> when this process last sampled its queue

    async def tick() -> None:
        for concert_id in await waiting_room.store.concerts():
            if await waiting_room.store.take_lease(concert_id, owner, LEASE_MS):
                await waiting_room.admit(concert_id, inventory=inventory)
                # The admitter samples the queue for the operator's chart: one process at a time.
                if time.monotonic() - sampled.get(concert_id, -SAMPLE_SECONDS) >= SAMPLE_SECONDS:
                    sampled[concert_id] = time.monotonic()
                    await waiting_room.sample(concert_id)

    return PeriodicJob("queue-admission", TICK_SECONDS, tick)


def sold_out_job(waiting_room: WaitingRoomService, concert_sold_out: Callable[[int], Awaitable[bool]]) -> PeriodicJob:
    """The safety net of the sold-out flag. Payments set it when they sell the last seat, but two
    last payments committing at once can each miss it; this finds it within a second. Only
    concerts with fans waiting are checked: the flag only matters to them. The other way too: a
    refund puts a seat back on sale and clears the flag after its commit; if Redis failed just
    then, this reopens the queue once it answers."""

    async def check() -> None:
        for concert_id in await waiting_room.store.concerts():
            stats = await waiting_room.stats(concert_id)
            if stats.waiting and not stats.sold_out and await concert_sold_out(concert_id):
                await waiting_room.mark_sold_out(concert_id)
            elif stats.sold_out and not await concert_sold_out(concert_id):
                await waiting_room.clear_sold_out(concert_id)

    return PeriodicJob("sold-out-check", SOLD_OUT_CHECK_SECONDS, check)


def pause_job(
    waiting_room: WaitingRoomService, reassert_pauses: Callable[[PauseSetter], Awaitable[None]]
) -> PeriodicJob:
    """The pause is recorded in PostgreSQL (the concerts domain's ``reassert_pauses``) and read by
    the admission script from Redis. If Redis lost its data (or a pause's Redis write is lost),
    this sets the flag again within a second. Only pauses are re-asserted, never resumes: a job
    that cleared flags could unpause a sale whose pause it read a moment before it was recorded.
    Setting a flag already set writes nothing (the script logs changes only)."""

    async def pause(concert_id: int) -> None:
        await waiting_room.store.set_paused(concert_id, True)

    async def check() -> None:
        await reassert_pauses(pause)

    return PeriodicJob("pause-check", PAUSE_CHECK_SECONDS, check)

"""The admission job. Every server process runs it; a Redis lease per concert lets exactly one
process admit for that concert at a time (the admission script is atomic and rate-limited by a
sliding window in Redis, so even two admitters could not exceed the configured rate or cap)."""

from __future__ import annotations

import uuid

from ticketing.core.jobs import PeriodicJob
from ticketing.waiting_room.service import WaitingRoomService

TICK_SECONDS = 0.1
LEASE_MS = 2000


def admission_job(waiting_room: WaitingRoomService) -> PeriodicJob:
    owner = uuid.uuid4().hex

    async def tick() -> None:
        for concert_id in await waiting_room.store.concerts():
            if await waiting_room.store.take_lease(concert_id, owner, LEASE_MS):
                await waiting_room.admit(concert_id)

    return PeriodicJob("queue-admission", TICK_SECONDS, tick)

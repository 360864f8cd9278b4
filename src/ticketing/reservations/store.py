"""The seed's Redis simple lock per seat: SET NX with an expiry and an owner value, released only
by its owner (compare-and-delete in Lua). It lets one contender into the database transaction
and turns the others away in one round trip; the database still decides."""

from __future__ import annotations

import asyncio
import random
import secrets
import time

from ticketing.kernel.redis import RedisClient, translate_redis_errors

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def seat_lock_key(seat_id: int) -> str:
    return f"seatlock:{{{seat_id}}}"


class SeatLockStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._release = redis.register_script(_RELEASE)

    async def acquire(self, seat_id: int, ttl_ms: int) -> str | None:
        """The owner value when the lock was taken, None when someone else holds it."""
        owner = secrets.token_hex(16)
        with translate_redis_errors():
            taken = await self.redis.set(seat_lock_key(seat_id), owner, nx=True, px=ttl_ms)
        return owner if taken else None

    async def release(self, seat_id: int, owner: str) -> None:
        with translate_redis_errors():
            await self._release(keys=[seat_lock_key(seat_id)], args=[owner])

    async def acquire_spinning(self, seat_id: int, ttl_ms: int, deadline_ms: int) -> str | None:
        """The spin lock of the lock study (strategy ``spin``, benchmarks only): SET NX again and
        again, with jittered exponential backoff (1 ms doubling to 32 ms), until it is taken or
        ``deadline_ms`` has passed (None). Every retry is one more Redis command, and a loser that
        finally gets the lock has only waited to be told by the database that the seat is gone."""
        give_up = time.monotonic() + deadline_ms / 1000
        pause = 0.001
        while True:
            owner = await self.acquire(seat_id, ttl_ms)
            if owner is not None or time.monotonic() >= give_up:
                return owner
            await asyncio.sleep(random.uniform(pause / 2, pause))  # noqa: S311 - jitter, not crypto
            pause = min(pause * 2, 0.032)

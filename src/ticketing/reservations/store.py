"""The seed's Redis simple lock per seat: SET NX with an expiry and an owner value, released only
by its owner (compare-and-delete in Lua). It lets one contender into the database transaction
and turns the others away in one round trip; the database still decides."""

from __future__ import annotations

import secrets

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

"""Event-stream tickets in Redis: written once, taken once (GETDEL), gone after their TTL."""

from __future__ import annotations

import secrets

import msgspec

from ticketing.events.schemas import Watch
from ticketing.kernel.redis import RedisClient, translate_redis_errors

_decode = msgspec.json.Decoder(Watch).decode


def _key(ticket: str) -> str:
    return f"events:ticket:{ticket}"


class EventTicketStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def put(self, watch: Watch, ttl_seconds: int) -> str:
        ticket = secrets.token_urlsafe(24)  # 192 random bits
        with translate_redis_errors():
            await self.redis.set(_key(ticket), msgspec.json.encode(watch), ex=ttl_seconds)
        return ticket

    async def take(self, ticket: str) -> Watch | None:
        with translate_redis_errors():
            raw = await self.redis.getdel(_key(ticket))
        return _decode(raw) if raw is not None else None

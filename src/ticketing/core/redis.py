"""The Redis client. A ``BlockingConnectionPool`` waits (bounded) for a free connection instead
of failing under load, and every call has a socket timeout so a slow or dead Redis turns into a
503 within a bounded time instead of a hang."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ticketing.config import Settings
from ticketing.core.errors import ServiceUnavailable


def create_redis(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (the launcher sets it for embedded runs)")
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=0,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )
    return Redis(connection_pool=pool)


REDIS_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, ConnectionError, TimeoutError, OSError)


@contextmanager
def translate_redis_errors() -> Iterator[None]:
    """Used by the stores: an unreachable or slow Redis is a 503, never a 500 or a hang."""
    try:
        yield
    except REDIS_FAILURES as error:
        raise ServiceUnavailable("The queue store is unavailable; nothing was changed") from error

"""The Redis client's bounds and its one retry (``ticketing.core.redis``)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from ticketing.config import Settings
from ticketing.core.errors import ServiceUnavailable
from ticketing.core.redis import create_redis, translate_redis_errors


async def test_a_pooled_connection_that_died_is_replaced_without_failing_the_call(settings: Settings) -> None:
    """A Redis restart kills every pooled connection; each used to fail one request with a 503
    (for minutes after the outage, as they were reused). Now the call goes again on a new one."""
    client = create_redis(settings)
    assert isinstance(client, Redis)
    killer = Redis.from_url(settings.redis_url or "")
    try:
        victim = await client.client_id()  # the pool's one connection, reused by the next call
        assert await killer.client_kill_filter(_id=str(victim)) == 1
        assert await client.set("retried", "yes") is True
        assert await client.get("retried") == b"yes"
        assert await client.client_id() != victim
    finally:
        await killer.aclose()
        await client.aclose()


def test_a_write_to_a_transport_reset_under_it_is_a_503() -> None:
    """uvloop's error for a connection Redis (or the network) reset during the call, which
    redis-py lets through as it is: it answered 500 while Redis connections were being reset."""
    closed = RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
    with pytest.raises(ServiceUnavailable), translate_redis_errors():
        raise closed
    with pytest.raises(RuntimeError, match="not a Redis failure"), translate_redis_errors():
        raise RuntimeError("not a Redis failure")

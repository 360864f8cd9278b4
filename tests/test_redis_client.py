"""The Redis client's bounds, its one retry and its auto-pipelining (``ticketing.kernel.redis``)."""

from __future__ import annotations

import asyncio

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from ticketing.config import Settings
from ticketing.kernel.errors import RateLimited, ServiceUnavailable
from ticketing.kernel.ratelimit import RateLimiter
from ticketing.kernel.redis import AutoPipelinedRedis, create_redis, is_redis_failure, translate_redis_errors


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


# --- Auto-pipelining (kernel/redis.py: AutoPipelinedRedis) ---------------------------------------


async def test_the_commands_of_one_turn_share_one_connection_and_each_gets_its_own_reply(settings: Settings) -> None:
    client = create_redis(settings)
    assert isinstance(client, AutoPipelinedRedis)
    try:
        await client.delete("autopipelined")
        # Redis itself says they came on one connection: one checkout, one write, one read.
        connection_ids = await asyncio.gather(*(client.client_id() for _ in range(50)))
        assert len(set(connection_ids)) == 1
        sent = client.batches_sent
        counts = await asyncio.gather(*(client.incr("autopipelined") for _ in range(50)))
        assert counts == list(range(1, 51))  # each caller its own reply, in the order they were sent
        assert client.batches_sent == sent + 1
        # Calls of later turns are batches of their own: nothing waits for another's batch.
        assert [await client.incr("autopipelined") for _ in range(3)] == [51, 52, 53]
        assert client.batches_sent == sent + 4
    finally:
        await client.aclose()


async def test_an_error_in_a_batch_is_its_command_s_own(settings: Settings) -> None:
    client = create_redis(settings)
    try:
        await client.set("not-a-number", "abc")
        await client.set("a-number", 1)
        refused, read, counted = await asyncio.gather(
            client.incr("not-a-number"), client.get("not-a-number"), client.incr("a-number"), return_exceptions=True
        )
        assert isinstance(refused, redis_errors.ResponseError)
        assert (read, counted) == (b"abc", 2)
    finally:
        await client.aclose()


async def test_a_script_redis_forgot_is_loaded_again_by_each_caller_of_the_batch(settings: Settings) -> None:
    client = create_redis(settings)
    try:
        echo = client.register_script("return ARGV[1]")
        await client.script_flush()
        assert await asyncio.gather(*(echo(args=[n]) for n in range(20))) == [str(n).encode() for n in range(20)]
    finally:
        await client.aclose()


async def test_a_cancelled_caller_does_not_take_its_command_back_nor_disturb_the_others(settings: Settings) -> None:
    client = create_redis(settings)
    try:
        await client.delete("cancelled-caller")
        first = asyncio.ensure_future(client.incr("cancelled-caller"))
        second = asyncio.ensure_future(client.incr("cancelled-caller"))
        await asyncio.sleep(0)  # both queued in this turn's batch
        first.cancel()
        assert await second == 2
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await client.get("cancelled-caller") == b"2"  # the cancelled one ran with its batch
    finally:
        await client.aclose()


async def test_the_rate_limits_count_through_the_service_s_client(settings: Settings) -> None:
    """`limits` would build a Redis client of its own; its counters ride ours (and its batches)."""
    client = create_redis(settings)
    assert isinstance(client, AutoPipelinedRedis)
    limits = {"rate_limits_enabled": True, "rate_limit_hold_per_account": "2/minute"}
    limiter = RateLimiter(client, settings.model_copy(update=limits))
    try:
        await client.flushdb()
        sent = client.commands_sent
        hold = limiter.rules["hold"]
        outcomes = await asyncio.gather(
            *(limiter.hit(hold, account="7", address="192.0.2.1") for _ in range(3)), return_exceptions=True
        )
        assert [type(o) for o in outcomes].count(RateLimited) == 1  # the third of 2/minute
        assert client.commands_sent > sent
    finally:
        await client.aclose()


async def test_connections_torn_down_under_calls_in_flight_are_redis_failures(settings: Settings) -> None:
    """The single-node client's side of the cluster test of the same name: its pool's connections
    closed again and again under fifty callers in flight. Whatever redis-py raises (it retries
    once on a new connection; a call may still fail), every failure takes the Redis-outage path."""
    client = create_redis(settings)
    assert isinstance(client, AutoPipelinedRedis)
    failures: list[BaseException] = []

    async def caller(i: int) -> None:
        for _ in range(100):
            try:
                await client.get(f"torn-{i}")
            except Exception as error:  # noqa: BLE001 - each is checked below
                failures.append(error)

    async def tear_down() -> None:
        for _ in range(100):
            await client.connection_pool.disconnect()
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(caller(i) for i in range(50)), tear_down())
        assert failures  # the teardowns did reach calls in flight
        assert all(is_redis_failure(error) for error in failures), {type(error) for error in failures}
        assert await client.set("torn", "back") is True
    finally:
        await client.aclose()

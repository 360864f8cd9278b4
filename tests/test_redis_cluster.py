"""The Redis Cluster infrastructure: the embedded 3-master Valkey cluster, the cluster client that
``create_redis`` builds for a ``redis+cluster://`` URL, and what our stores rely on there
(hash-tagged scripts, one-slot pipelines, SET NX PX, the seat lock)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest
from redis import exceptions as redis_errors
from redis.asyncio.cluster import RedisCluster

from tests.cluster_support import flush_all, tag_on_node
from ticketing.config import Settings
from ticketing.devservers.embedded import CLUSTER_SLOTS, EmbeddedValkeyCluster, free_port
from ticketing.kernel.errors import ServiceUnavailable
from ticketing.kernel.redis import (
    AutoPipelinedRedis,
    BoundedRedisCluster,
    cluster_url,
    create_redis,
    is_redis_failure,
    translate_redis_errors,
)
from ticketing.reservations.store import SeatLockStore, seat_lock_key

pytestmark = pytest.mark.redis_cluster

# Check-then-act over three keys of one hash tag: takes a place while fewer than ARGV[2] are
# taken. Split into separate commands, concurrent callers would overshoot the cap.
TAKE_PLACE = """
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
if taken >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], taken + 1)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], taken + 1)
return taken + 1
"""


@pytest.fixture
def cluster_settings(settings: Settings, redis_cluster_url: str) -> Settings:
    return settings.model_copy(update={"redis_url": redis_cluster_url})


@pytest.fixture
async def cluster(cluster_settings: Settings) -> AsyncIterator[RedisCluster]:
    """A client of the session's cluster, every primary flushed."""
    client = create_redis(cluster_settings)
    assert isinstance(client, RedisCluster)
    await client.initialize()
    await flush_all(client)
    try:
        yield client
    finally:
        await client.aclose()


def primaries(client: RedisCluster) -> list[str]:
    return sorted(node.name for node in client.get_primaries())


def node_of(client: RedisCluster, key: str) -> str:
    node = client.get_node_from_key(key)
    assert node is not None
    return node.name


async def test_three_masters_share_every_slot(cluster: RedisCluster) -> None:
    assert len(primaries(cluster)) == 3
    assert len(cluster.get_nodes()) == 3  # no replicas
    ranges = sorted((start, end) for start, end, *_ in await cluster.execute_command("CLUSTER SLOTS"))
    assert ranges[0][0] == 0 and ranges[-1][1] == CLUSTER_SLOTS - 1
    assert all(end + 1 == start for (_, end), (start, _) in itertools.pairwise(ranges))
    for node in cluster.get_nodes():
        info = await cluster.cluster_info(target_nodes=node)
        assert info["cluster_state"] == "ok"
        assert info["cluster_known_nodes"] == "3"
        assert info["cluster_slots_ok"] == str(CLUSTER_SLOTS)
    assert await cluster.ping() is True


def test_the_url_picks_the_client(settings: Settings, redis_cluster_url: str) -> None:
    assert cluster_url("redis+cluster://user:pw@h:7000/0?x=1") == "redis://user:pw@h:7000/0?x=1"
    assert cluster_url("rediss+cluster://h:7000") == "rediss://h:7000"
    assert cluster_url("redis://h:6379/0") is None
    assert type(create_redis(settings)) is AutoPipelinedRedis  # one server: auto-pipelined (kernel/redis.py)
    client = create_redis(settings.model_copy(update={"redis_url": redis_cluster_url}))
    assert isinstance(client, BoundedRedisCluster)
    kwargs = client.get_connection_kwargs()
    assert kwargs["socket_timeout"] == settings.redis_timeout_seconds
    assert kwargs["socket_connect_timeout"] == settings.redis_timeout_seconds
    assert kwargs["max_connections"] == settings.redis_max_connections
    assert client.retry.get_retries() == 1  # a call that lost its connection goes once more (kernel/redis.py)
    with pytest.raises(redis_errors.RedisClusterException, match="db"):
        create_redis(settings.model_copy(update={"redis_url": redis_cluster_url.replace("/0", "/1")}))


@pytest.mark.parametrize("node", [0, 1, 2])
async def test_a_hash_tagged_script_is_atomic_on_its_node(cluster: RedisCluster, node: int) -> None:
    owner = primaries(cluster)[node]
    tag = tag_on_node(cluster, owner)
    keys = [f"demo:{{{tag}}}:taken", f"demo:{{{tag}}}:who", f"demo:{{{tag}}}:order"]
    take = cluster.register_script(TAKE_PLACE)
    results = await asyncio.gather(*(take(keys=keys, args=[f"fan-{i}", 50]) for i in range(300)))
    assert sorted(r for r in results if r) == list(range(1, 51))
    assert await cluster.get(keys[0]) == b"50"
    assert await cluster.scard(keys[1]) == 50
    assert await cluster.hlen(keys[2]) == 50
    slot = cluster.keyslot(keys[0])
    assert await cluster.cluster_countkeysinslot(slot) == 3  # all three on the owner of the tag


async def test_a_script_touching_two_slots_is_refused(cluster: RedisCluster) -> None:
    owners = primaries(cluster)
    tag = tag_on_node(cluster, owners[0])
    elsewhere = tag_on_node(cluster, owners[1])  # a slot on another node
    nearby = tag_on_node(cluster, owners[0], avoid={cluster.keyslot(tag)})  # another slot, same node
    write = cluster.register_script("redis.call('SET', KEYS[1], 1) return redis.call('SET', KEYS[2], 1)")
    with pytest.raises(redis_errors.RedisClusterException, match="same key slot"):
        await write(keys=[f"k:{{{tag}}}", f"k:{{{elsewhere}}}"])  # declared: refused before sending

    # Undeclared keys: the server refuses a key another node owns. A key of another slot on the
    # same node passes a plain script; a ``#!lua`` script is refused that one too.
    sneaky = "redis.call('GET', ARGV[1]) return redis.call('SET', KEYS[1], 1)"
    plain = cluster.register_script(sneaky)
    strict = cluster.register_script("#!lua\n" + sneaky)
    with pytest.raises(redis_errors.ResponseError, match="non local key"):
        await plain(keys=[f"k:{{{tag}}}"], args=[f"k:{{{elsewhere}}}"])
    assert await plain(keys=[f"k:{{{tag}}}"], args=[f"k:{{{nearby}}}"])
    for other in (elsewhere, nearby):
        with pytest.raises(redis_errors.ResponseError, match=r"non local key|same slot"):
            await strict(keys=[f"s:{{{tag}}}"], args=[f"k:{{{other}}}"])
    assert await cluster.exists(f"s:{{{tag}}}") == 0
    assert await strict(keys=[f"s:{{{tag}}}"], args=[f"k:{{{tag}}}"])  # same slot: fine


async def test_a_pipeline_on_one_hash_tag(cluster: RedisCluster) -> None:
    async with cluster.pipeline(transaction=False) as pipe:
        pipe.zadd("q:{7}:waiting", {"a": 1, "b": 2})
        pipe.zcard("q:{7}:waiting")
        pipe.set("q:{7}:flag", 1)
        pipe.exists("q:{7}:flag")
        assert await pipe.execute() == [2, 2, True, 1]
    async with cluster.pipeline(transaction=True) as pipe:  # MULTI/EXEC: one slot only
        pipe.incr("q:{7}:seq")
        pipe.incr("q:{7}:seq")
        assert await pipe.execute() == [1, 2]


async def test_set_nx_px_sets_and_members(cluster: RedisCluster) -> None:
    assert await cluster.set("lock:{1}", "me", nx=True, px=100) is True
    assert await cluster.set("lock:{1}", "you", nx=True, px=100) is None
    assert 0 < await cluster.pttl("lock:{1}") <= 100
    await asyncio.sleep(0.15)
    assert await cluster.set("lock:{1}", "you", nx=True, px=100) is True
    assert await cluster.sadd("members", 1, 2, 3) == 3
    assert await cluster.smembers("members") == {b"1", b"2", b"3"}
    await flush_all(cluster)
    assert await cluster.dbsize() == 0  # summed over every primary


async def test_the_seat_lock_store_on_the_cluster(cluster: RedisCluster) -> None:
    store = SeatLockStore(cluster)
    owner = await store.acquire(7, 5000)
    assert owner is not None
    assert await store.acquire(7, 5000) is None
    await store.release(7, "not-the-owner")
    assert await store.acquire(7, 5000) is None
    await store.release(7, owner)
    assert await store.acquire(7, 5000) is not None
    # 60 seats spread over the three nodes, ten contenders each: exactly one winner per seat.
    seats = range(100, 160)
    assert len({node_of(cluster, seat_lock_key(s)) for s in seats}) == 3
    won = await asyncio.gather(*(store.acquire(s, 5000) for s in seats for _ in range(10)))
    assert sum(w is not None for w in won) == len(seats)


async def test_calls_wait_for_a_turn_and_the_wait_is_bounded(cluster_settings: Settings, cluster: RedisCluster) -> None:
    # Two turns, and a turn wait long enough that 200 calls queue without one timing out, even
    # on a busy machine; then the same two turns with a short wait, both held, for the bound.
    roomy = create_redis(cluster_settings.model_copy(update={"redis_max_connections": 2, "redis_timeout_seconds": 5}))
    assert isinstance(roomy, BoundedRedisCluster)
    try:
        won = await asyncio.gather(*(SeatLockStore(roomy).acquire(s, 5000) for s in range(500, 700)))
        assert all(won)  # no MaxConnectionsError
        assert all(len(node._connections) <= 2 for node in roomy.get_nodes())
    finally:
        await roomy.aclose()
    tight = cluster_settings.model_copy(update={"redis_max_connections": 2, "redis_timeout_seconds": 0.3})
    client = create_redis(tight)
    assert isinstance(client, BoundedRedisCluster)
    try:
        store = SeatLockStore(client)

        release = asyncio.Event()

        async def hog() -> None:
            async with client.turn():
                await release.wait()

        hogs = [asyncio.create_task(hog()) for _ in range(2)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await store.acquire(900, 5000)
        assert 0.25 <= time.monotonic() - started < 5  # bounded by the turn wait, not a hang
        release.set()
        await asyncio.gather(*hogs)
        assert await store.acquire(900, 5000) is not None
    finally:
        await client.aclose()


async def test_an_unreachable_cluster_is_a_quick_503(settings: Settings) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis+cluster://127.0.0.1:{free_port()}/0"})
    client = create_redis(dead)
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await SeatLockStore(client).acquire(1, 5000)
        assert time.monotonic() - started < 2.0
    finally:
        await client.aclose()


async def test_a_hung_node_is_a_quick_503_and_the_others_keep_serving(
    redis_cluster: EmbeddedValkeyCluster, cluster_settings: Settings, cluster: RedisCluster
) -> None:
    client = create_redis(cluster_settings.model_copy(update={"redis_timeout_seconds": 0.3}))
    assert isinstance(client, RedisCluster)
    await client.initialize()
    victim = redis_cluster.nodes[1]
    assert victim.process is not None
    victim_name = f"127.0.0.1:{victim.port}"
    seats = {node: [s for s in range(300) if node_of(client, seat_lock_key(s)) == node] for node in primaries(client)}
    on_victim = seats[victim_name]
    elsewhere = next(seat for node, some in seats.items() if node != victim_name for seat in some)
    store = SeatLockStore(client)
    assert await store.acquire(on_victim[0], 5000) is not None  # the client now has a connection there
    os.kill(victim.process.pid, signal.SIGSTOP)  # hung, not dead: connections open, no reply
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            await store.acquire(on_victim[1], 5000)
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        assert await store.acquire(elsewhere, 5000) is not None  # slot map re-read from a live node
        assert time.monotonic() - started < 2.0
    finally:
        os.kill(victim.process.pid, signal.SIGCONT)
    try:
        assert await store.acquire(on_victim[2], 5000) is not None  # back: reconnects by itself
    finally:
        await client.aclose()


async def test_connections_torn_down_under_calls_in_flight_are_503s_never_500s(cluster_settings: Settings) -> None:
    """What redis-py's cluster client does on CLUSTERDOWN, an uncovered slot or a MOVED storm
    (while nodes start, while a master is down): it disconnects every connection of every node to
    re-read the slot map, including those other calls are using, which then fail inside redis-py
    with ``AttributeError: 'NoneType' object has no attribute 'writelines'`` (500s in a multi-node
    run). Provoked here the same way, on the real cluster: every failure is a Redis failure (the
    503 path), and the AttributeError did happen (else the test proves nothing)."""
    client = create_redis(cluster_settings)
    assert isinstance(client, RedisCluster)
    await client.initialize()
    causes: list[BaseException | None] = []
    retry_after: set[str | None] = set()

    async def read(i: int) -> None:
        try:
            with translate_redis_errors():
                await client.get(f"torn{{{i % 50}}}")
        except ServiceUnavailable as error:
            retry_after.add(error.headers.get("Retry-After"))
            causes.append(error.__cause__)

    try:
        for _ in range(50):
            calls = [asyncio.create_task(read(i)) for i in range(300)]
            await asyncio.sleep(0.0005)
            await client.nodes_manager.aclose()  # what a CLUSTERDOWN makes redis-py do
            await asyncio.gather(*calls)  # anything but a 503 fails the test here
            if any(isinstance(cause, AttributeError) for cause in causes):
                break
        assert any(isinstance(cause, AttributeError) for cause in causes), {type(c) for c in causes}
        assert all(cause is not None and is_redis_failure(cause) for cause in causes)
        assert retry_after == {"1"}
        assert await client.set("torn{0}", "back") is True  # and the client reconnects by itself
    finally:
        await client.aclose()


def test_an_attribute_error_outside_redis_py_is_not_taken_for_redis() -> None:
    """Only redis-py's own lookup on a torn-down stream is a Redis failure: the same error raised
    by the service's code is a bug, and stays a 500."""
    stream = None
    with pytest.raises(AttributeError), translate_redis_errors():
        stream.writelines([b"x"])  # type: ignore[attr-defined]

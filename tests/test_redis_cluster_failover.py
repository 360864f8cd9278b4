"""A Valkey cluster with replicas (``make cluster``'s): a master killed, its replica takes over,
and the service's cluster client answers the blip with the Redis-outage path (503, retry) and
then finds the new master itself; the queue written before the kill is still there."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.asyncio.cluster import RedisCluster

from ticketing.config import Settings
from ticketing.devservers.embedded import EmbeddedValkeyCluster
from ticketing.kernel.errors import ServiceUnavailable
from ticketing.kernel.redis import create_redis
from ticketing.waiting_room.store import Joined, QueueStore, TokenRecord

pytestmark = pytest.mark.redis_cluster

CONCERT = 7
FAN = 41


@pytest.fixture
def replicated_cluster() -> Iterator[EmbeddedValkeyCluster]:
    """Its own cluster (the test kills a master): 3 masters each with a replica; a master silent
    for 1 s is failed over."""
    cluster = EmbeddedValkeyCluster(
        Path(tempfile.mkdtemp(prefix="ticketing-failover-")), masters=3, replicas=1, node_timeout_ms=1000
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.remove_data()


async def test_a_killed_master_is_replaced_and_the_queue_survives(
    settings: Settings, replicated_cluster: EmbeddedValkeyCluster
) -> None:
    client = create_redis(settings.model_copy(update={"redis_url": replicated_cluster.url}))
    assert isinstance(client, RedisCluster)
    try:
        await client.initialize()
        assert len(client.get_primaries()) == 3  # the replicas are the cluster's, not the client's
        store = QueueStore(client)
        [joined] = await store.issue(CONCERT, [(FAN, int(time.time() * 1000), 0)], "e1")
        assert isinstance(joined, Joined)
        owner = client.get_node_from_key(f"wr:{{{CONCERT}}}:")
        assert owner is not None
        master = next(node for node in replicated_cluster.nodes if node.port == owner.port)
        assert master.process is not None
        with Redis(host="127.0.0.1", port=master.port) as direct:
            assert direct.execute_command("WAIT", 1, 5000) == 1  # the replica has the join
        master.process.send_signal(signal.SIGKILL)
        master.process.wait()

        record: TokenRecord | None = None
        outages: list[ServiceUnavailable] = []
        deadline = time.monotonic() + 60
        while record is None:
            assert time.monotonic() < deadline, "no replica took over, or the client never found it"
            try:
                record = await store.peek(CONCERT, joined.seq, joined.epoch)
            except ServiceUnavailable as outage:  # anything else (a 500) fails the test here
                outages.append(outage)
                await asyncio.sleep(0.2)
        assert all(outage.headers == {"Retry-After": "1"} for outage in outages)
        assert (record.status, record.user_id, record.epoch) == ("W", FAN, joined.epoch)
        [again] = await store.issue(CONCERT, [(FAN, int(time.time() * 1000), 0)], "e2")
        assert isinstance(again, Joined)
        assert (again.created, again.seq) == (False, joined.seq)  # the same place, not a new one
        new_owner = client.get_node_from_key(f"wr:{{{CONCERT}}}:")
        assert new_owner is not None and new_owner.port != master.port
    finally:
        await client.aclose()

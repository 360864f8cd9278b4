"""Helpers for tests that run on a single Redis node and on a Redis Cluster alike."""

from __future__ import annotations

import itertools

from redis.asyncio.cluster import RedisCluster

from ticketing.core.redis import RedisClient


async def flush_all(redis: RedisClient) -> None:
    """Empty the database: on a cluster, ``FLUSHDB`` on every primary (each holds a share)."""
    if isinstance(redis, RedisCluster):
        await redis.flushdb(target_nodes=RedisCluster.PRIMARIES)
    else:
        await redis.flushdb()


def tag_on_node(redis: RedisCluster, node_name: str, *, avoid: set[int] | None = None) -> str:
    """A hash tag whose slot is owned by ``node_name`` (``host:port``), for tests that must
    reach a particular node; slots in ``avoid`` are skipped."""
    for n in itertools.count():
        tag = f"t{n}"
        slot = redis.keyslot(tag)
        if avoid and slot in avoid:
            continue
        if redis.nodes_manager.get_node_from_slot(slot).name == node_name:
            return tag
    raise AssertionError("unreachable")

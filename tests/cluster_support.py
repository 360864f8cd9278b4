"""Helpers for tests that run on a single Redis node and on a Redis Cluster alike."""

from __future__ import annotations

import itertools

import pytest
from redis.asyncio.cluster import RedisCluster

from ticketing.config import Settings
from ticketing.kernel.redis import RedisClient

# The parameters of a ``settings`` fixture that runs tests on each Redis backend: ``single`` (the
# session's server) and ``cluster`` (the 3-master cluster, started only when this id is selected;
# marker ``redis_cluster``, so ``pytest -m "not redis_cluster"`` skips it).
REDIS_BACKENDS = ["single", pytest.param("cluster", marks=pytest.mark.redis_cluster)]


def settings_on_backend(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The body of such a fixture: a folder's or module's own ``settings`` that overrides the
    session-wide one, so that ``clean``, ``services``, ``app`` and ``client`` follow it::

        @pytest.fixture(params=REDIS_BACKENDS)
        def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
            return settings_on_backend(request, settings)
    """
    if request.param == "single":
        return settings
    return settings.model_copy(update={"redis_url": request.getfixturevalue("redis_cluster_url")})


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

"""The folder's ``settings`` (conftest.py) runs each test on both Redis backends."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio.cluster import RedisCluster

from ticketing.container import Services
from ticketing.reservations.store import SeatLockStore


async def test_each_test_here_runs_on_each_backend(
    request: pytest.FixtureRequest, services: Services, client: AsyncTestClient[Litestar]
) -> None:
    backend = request.node.callspec.params["settings"]
    assert backend in {"single", "cluster"}
    assert isinstance(services.redis, RedisCluster) is (backend == "cluster")
    assert await services.redis.dbsize() == 0  # `clean` flushed every primary
    assert await SeatLockStore(services.redis).acquire(1, 5000) is not None
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text

"""The waiting-room tests run twice: on the single Redis-compatible server of the session and on
a real 3-master Redis Cluster (``wr_services`` in tests/conftest.py), so that every script keeps
its keys in one slot and a deployment can move to Redis Cluster by URL."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ticketing.container import Services


@pytest.fixture
def services(wr_services: Services) -> Services:
    return wr_services


@pytest.fixture
def client(wr_client: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    return wr_client

"""The waiting-room tests run twice: on the single Redis-compatible server of the session and on
a real 3-master Redis Cluster, so that every script keeps its keys in one slot and a deployment
can move to Redis Cluster by URL. Every fixture built on ``settings`` (``clean``, ``services``,
``app``, ``client``) follows this one."""

from __future__ import annotations

import pytest

from tests.cluster_support import REDIS_BACKENDS, settings_on_backend
from ticketing.config import Settings


@pytest.fixture(params=REDIS_BACKENDS)
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return settings_on_backend(request, settings)

"""Liveness and readiness for load balancers.

As the balancer's check, ``/readyz`` drained everything (a 4 s Redis restart took every node out),
and the other way it stayed 200 while the Redis Cluster was down (a PING reached a live node).
Now ``/healthz`` asks no dependency (what a balancer routes on), and ``/readyz`` tells each
dependency's own state, on a cluster the cluster's and every primary's."""

from __future__ import annotations

import os
import signal

from litestar.testing import AsyncTestClient

from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.devservers.embedded import EmbeddedValkeyCluster, free_port
from ticketing.main import create_app


async def test_readiness_reports_each_dependency(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert (body["status"], body["postgres"], body["redis"]) == ("ready", True, True)
        assert body["checks"]["postgres"]["ok"] and body["checks"]["redis"]["ok"]
        assert body["checks"]["redis"]["detail"] == "PING answered"


async def test_a_dependency_down_fails_readiness_not_liveness(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"redis_url": f"redis://:pw-in-url@127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 0.2}
    )
    async with AsyncTestClient(app=create_app(dead)) as client:
        body = assert_problem(await client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
        assert (body["postgres"], body["redis"]) == (True, False)
        assert body["checks"]["postgres"]["ok"] is True
        assert body["checks"]["redis"]["ok"] is False
        assert "ConnectionError" in body["checks"]["redis"]["detail"]
        assert "pw-in-url" not in str(body)
        assert (await client.get("/healthz")).status_code == 200  # the balancer keeps the node


async def test_on_a_cluster_readiness_asks_every_primary(
    settings: Settings, redis_cluster: EmbeddedValkeyCluster, redis_cluster_url: str
) -> None:
    on_cluster = settings.model_copy(update={"redis_url": redis_cluster_url, "redis_timeout_seconds": 0.3})
    async with AsyncTestClient(app=create_app(on_cluster)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"]["detail"] == "cluster_state:ok, 3 of 3 primaries answered PING"
        victim = redis_cluster.nodes[2]  # not the node of the URL: a PING through the client reaches a live one
        assert victim.process is not None
        os.kill(victim.process.pid, signal.SIGSTOP)  # a master hung (or gone): its slots unserved
        try:
            body = assert_problem(await client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
            assert (body["postgres"], body["redis"]) == (True, False)
            assert "1 of 3 primaries did not answer" in body["checks"]["redis"]["detail"]
            assert (await client.get("/healthz")).status_code == 200
        finally:
            os.kill(victim.process.pid, signal.SIGCONT)
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text

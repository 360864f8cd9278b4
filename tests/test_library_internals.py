"""The library internals the service leans on for speed, one test each.

pyproject.toml bounds each of these libraries above the versions tried. When a bound is raised,
these tests say which internal moved, in words, instead of a slow path or a 500 in production."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import asyncpg
import asyncpg.pool
import pytest
import structlog
from litestar import Litestar
from litestar.routes import HTTPRoute
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from ticketing.edge import metrics
from ticketing.edge.context import _REQUEST_ID
from ticketing.kernel.db import _PooledConnection
from ticketing.kernel.ratelimit import _SharedClientStorage
from ticketing.kernel.redis import AutoPipelinedRedis, RedisClient


def test_prometheus_client_reads_what_the_mmap_files_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``edge/metrics.py`` writes the multiprocess files itself with ``prometheus_client.mmap_dict``
    (one write per series per flush instead of a lock and a lookup per request)."""
    monkeypatch.setattr(metrics, "_MULTIPROCESS_DIR", str(tmp_path))
    monkeypatch.setattr(metrics, "_open_files", [])
    monkeypatch.setattr(metrics, "_series", {})
    monkeypatch.setattr(metrics, "_dirty", [])
    for _ in range(3):
        metrics.record_request("GET", "/internals-test", 200, 0.001)
    metrics.flush()
    collected = {
        sample.name: sample.value
        for family in MultiProcessCollector(CollectorRegistry(), str(tmp_path)).collect()  # type: ignore[no-untyped-call]
        for sample in family.samples
        if sample.labels.get("path") == "/internals-test"
    }
    assert collected.get(metrics.REQUESTS + "_total") == 3, (
        "prometheus_client's multiprocess files changed (mmap_dict.MmapedDict / mmap_key): "
        f"edge/metrics.py writes what the collector no longer reads; collected {collected}"
    )
    assert collected.get(metrics.LATENCY + "_sum") == pytest.approx(0.003), f"latency sum lost: {collected}"


def test_structlog_binds_the_request_id_through_the_context_variable_we_set() -> None:
    """``edge/context.py`` sets structlog's own ContextVar for ``request_id`` directly."""
    token = _REQUEST_ID.set("abc")
    try:
        bound = structlog.contextvars.get_contextvars()
    finally:
        _REQUEST_ID.reset(token)
    assert bound.get("request_id") == "abc", (
        "structlog.contextvars no longer keeps one ContextVar per key as bind_contextvars' tokens "
        f"name it: log lines would lose their request id (bound: {bound})"
    )


def test_asyncpg_pool_still_asks_the_connection_for_its_reset_query() -> None:
    """``kernel/db.py`` skips the reset query on release by overriding ``get_reset_query``."""
    assert "get_reset_query" in vars(asyncpg.Connection), "asyncpg.Connection.get_reset_query is gone"
    assert "get_reset_query" in inspect.getsource(asyncpg.pool), (
        "asyncpg's pool no longer calls Connection.get_reset_query on release: _PooledConnection's "
        "override would not save the round trip any more"
    )
    assert _PooledConnection.get_reset_query.__name__ == "get_reset_query"


def test_redis_py_keeps_the_methods_our_subclasses_override() -> None:
    """``AutoPipelinedRedis`` funnels every command through ``execute_command``;
    ``BoundedRedisCluster`` and its pipeline override ``initialize`` and ``execute``."""
    assert "execute_command" in vars(AutoPipelinedRedis.__mro__[1]), (
        "redis.asyncio.Redis.execute_command moved: auto-pipelining would be bypassed"
    )
    expected: dict[Any, list[str]] = {
        RedisCluster.initialize: ["self", "additional_startup_nodes_info", "last_failed_node_name"],
        RedisCluster.execute_command: ["self", "args", "kwargs"],
        ClusterPipeline.__init__: ["self", "client", "transaction"],
        ClusterPipeline.execute: ["self", "raise_on_error", "allow_redirections"],
    }
    for method, parameters in expected.items():
        found = list(inspect.signature(method).parameters)
        assert found == parameters, (
            f"redis-py's {method.__qualname__} now takes {found}, kernel/redis.py calls it with {parameters}"
        )


async def test_limits_bridge_sends_through_the_services_own_client(redis: RedisClient) -> None:
    """``kernel/ratelimit.py`` hands `limits`' redis-py bridge our auto-pipelined client."""
    assert isinstance(redis, AutoPipelinedRedis)
    storage = _SharedClientStorage(redis)
    before = redis.commands_sent
    await storage.incr("internals-test", 60)
    assert redis.commands_sent > before, (
        "`limits`' RedisStorage no longer sends through bridge.storage after configure_bridge(): "
        "the rate limits would open a Redis client of their own"
    )


def test_litestar_still_adds_an_options_handler_per_route(app: Litestar) -> None:
    """``edge/responses.answer_options_with_every_method`` finds Litestar's generated OPTIONS handlers
    by their name and method."""
    routes = [route for route in app.routes if isinstance(route, HTTPRoute) and route.path.startswith("/api/")]
    generated = [
        route
        for route in routes
        if any(h.http_methods == {"OPTIONS"} and h.handler_name == "options_handler" for h in route.route_handlers)
    ]
    assert routes and len(generated) == len(routes), (
        "Litestar no longer adds an 'options_handler' for OPTIONS to every route: OPTIONS answers "
        f"would miss methods or ask for a bearer token ({len(generated)} of {len(routes)} routes have one)"
    )


def test_litestar_router_still_sets_what_the_fast_lane_sets_in_its_place() -> None:
    """``edge/lane.py`` does the router's part for the handlers it takes: it reads
    ``HTTPRoute.route_handler_map`` and sets ``path_params``, ``route_handler``, ``path_template``
    and ``ScopeState.exception_handlers`` in the scope, then calls the handler inside
    ``wrap_in_exception_handler``, after Litestar's own ``is_valid_host`` check. If the router
    sets anything more, the lane's answers may differ from Litestar's (tests/test_fast_lane.py
    compares them; this says which internal moved)."""
    from litestar._asgi import asgi_router
    from litestar._asgi.utils import is_valid_host, wrap_in_exception_handler
    from litestar.utils.scope.state import ScopeState

    router_source = inspect.getsource(asgi_router.ASGIRouter.__call__)
    for assignment in (
        'scope["route_handler"] = route_handler',
        'scope["path_template"] = path_template',
        "ScopeState.from_scope(scope).exception_handlers = route_handler.resolve_exception_handlers()",
        "is_valid_host(host)",
    ):
        assert assignment in router_source, f"Litestar's router no longer does {assignment!r}"
    # The keys it reads or writes ("headers": the Host check; "path": the normalized path, the one
    # the lane matched exactly).
    assert set(re.findall(r'scope\["(\w+)"\]', router_source)) == {
        "headers",
        "path",
        "path_params",
        "route_handler",
        "path_template",
    }
    assert callable(is_valid_host) and callable(wrap_in_exception_handler)
    assert "exception_handlers" in ScopeState.__slots__
    assert "route_handler_map" in HTTPRoute.__slots__

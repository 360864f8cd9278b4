"""Operations endpoints: liveness (``/healthz``), readiness (``/readyz``: each dependency's own
answer), the OpenAPI document (``/openapi.json``) and Prometheus metrics (``/metrics``, for a
bearer TICKETING_METRICS_TOKEN or, without one, loopback clients and local mode).

Which check for what (docs/operations.md, "Scaling out"): a load balancer or a readiness probe routes on
``/healthz``, which asks no dependency, so that a blip of a dependency every node shares (a 4 s
Redis restart) does not take every node out at once (its requests answer 503 with Retry-After,
and the pages and the wallet keep working meanwhile). ``/readyz`` tells the truth about each
dependency, for monitoring and for a deployment's "is it up yet": PostgreSQL answers a query;
Redis answers, and on a Redis Cluster the cluster itself is whole (``cluster_state:ok``) and every
primary answers, which a PING through the cluster client (to any one node) did not tell."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response
from litestar.types import Scope
from redis.asyncio.cluster import RedisCluster

from ticketing.edge.openapi import body_of, error_responses, openapi_json
from ticketing.edge.problems import problem
from ticketing.edge.responses import JsonBytes
from ticketing.kernel.errors import Forbidden, ServiceUnavailable, Unauthenticated
from ticketing.kernel.redis import RedisClient

_HEALTHY = msgspec.json.encode({"status": "ok"})
CHECK_TIMEOUT_SECONDS = 2.0


class DependencyCheck(msgspec.Struct):
    ok: bool
    detail: str  # what was asked and what it answered (or why it did not)
    latency_ms: float


class ReadyChecks(msgspec.Struct):
    postgres: DependencyCheck
    redis: DependencyCheck


class ReadyOut(msgspec.Struct):
    status: str
    postgres: bool
    redis: bool
    checks: ReadyChecks


async def _timed(check: Callable[[], Awaitable[str]]) -> DependencyCheck:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            detail, ok = await check(), True
    except TimeoutError:
        detail, ok = f"no answer within {CHECK_TIMEOUT_SECONDS:g} s", False
    except Exception as error:
        detail, ok = _failure(error), False
    return DependencyCheck(ok=ok, detail=detail, latency_ms=round((time.perf_counter() - started) * 1000, 1))


def _failure(error: BaseException) -> str:
    """The error's kind and message, never a URL (it may carry a password)."""
    message = str(error).split("://")[0][:200]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class ClusterNotOk(Exception):
    """The Redis Cluster answers, but is not whole."""


async def redis_check(redis: RedisClient) -> str:
    if not isinstance(redis, RedisCluster):
        await redis.ping()
        return "PING answered"
    info = await redis.cluster_info()  # one node's view of the cluster
    state = str(info.get("cluster_state", "unknown"))
    if state != "ok":
        raise ClusterNotOk(f"cluster_state:{state}")
    primaries = redis.get_primaries()
    answers = await asyncio.gather(*(redis.ping(target_nodes=node) for node in primaries), return_exceptions=True)
    failed = [node.name for node, answer in zip(primaries, answers, strict=True) if isinstance(answer, BaseException)]
    if failed:
        raise ClusterNotOk(f"cluster_state:ok but {len(failed)} of {len(primaries)} primaries did not answer")
    return f"cluster_state:ok, {len(primaries)} of {len(primaries)} primaries answered PING"


class OpsController(Controller):
    tags = ["operations"]
    include_in_schema = True

    @get(
        "/healthz",
        summary="The process is up (liveness; what a load balancer routes on: asks no dependency)",
        responses={200: body_of(dict[str, str])},
    )
    async def healthz(self) -> JsonBytes:
        return JsonBytes(_HEALTHY)  # encoded once: load balancers call this all day

    @get("/openapi.json", summary="The OpenAPI document", include_in_schema=False)
    async def openapi(self, request: Request) -> JsonBytes:  # type: ignore[type-arg]
        return JsonBytes(openapi_json(request.app))  # the completed document (edge/openapi.py)

    @get(
        "/readyz",
        summary="Each dependency's state: PostgreSQL, Redis (on a cluster: cluster_state and every primary)",
        # The 503 problem carries the same fields: {"postgres": bool, "redis": bool, "checks": {...}}.
        responses={200: body_of(ReadyOut), **error_responses(ServiceUnavailable)},
    )
    async def readyz(self, state: State) -> Any:
        services = state.services

        async def postgres() -> str:
            async with services.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            return "SELECT 1 answered"

        pg, rd = await asyncio.gather(_timed(postgres), _timed(lambda: redis_check(services.redis)))
        checks = ReadyChecks(postgres=pg, redis=rd)
        if pg.ok and rd.ok:
            return ReadyOut(status="ready", postgres=True, redis=True, checks=checks)
        failed = ", ".join(name for name, check in (("PostgreSQL", pg), ("Redis", rd)) if not check.ok)
        return problem(
            503,
            "SERVICE_UNAVAILABLE",
            "Not ready",
            f"unavailable: {failed}",
            headers={"Retry-After": "1"},
            postgres=pg.ok,
            redis=rd.ok,
            checks=msgspec.to_builtins(checks),
        )


# Headers a reverse proxy or CDN adds to name the client behind it: a request that carries one
# came through a proxy, so its loopback peer address says nothing about that client. Every
# ``X-Forwarded-*`` header counts too, and ``Via`` (RFC 9110: added by every proxy).
_FORWARDING_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-real-ip",
        b"x-client-ip",
        b"true-client-ip",
        b"cf-connecting-ip",
        b"fastly-client-ip",
        b"x-cluster-client-ip",
        b"x-original-forwarded-for",
        b"client-ip",
        b"forwarded-for",
        b"x-forwarded",
        b"x-proxyuser-ip",
        b"via",
    }
)


def _forwarded(name: bytes) -> bool:
    return name in _FORWARDING_HEADERS or name.startswith(b"x-forwarded-")


def _direct_loopback_client(scope: Scope) -> bool:
    client = scope.get("client")
    if not client or any(_forwarded(name) for name, _ in scope["headers"]):
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:  # a Unix socket path or a name: not provably this machine
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _bearer_matches(scope: Scope, expected: bytes) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            # compare_digest: the time taken does not tell how much of a guess was right
            return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), expected)
    return False


async def metrics_checks(request: Request[Any, Any, State]) -> None:
    """Before-request hook of ``/metrics``: its series name every route and its traffic, which is
    for the operators' scraper, not for the public."""
    settings = request.app.state.settings
    if settings.metrics_token:
        if not _bearer_matches(request.scope, settings.metrics_token.encode()):
            raise Unauthenticated(
                "GET /metrics needs the metrics bearer token (TICKETING_METRICS_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    if settings.env == "local" or _direct_loopback_client(request.scope):
        return
    raise Forbidden("GET /metrics is served to loopback clients only unless TICKETING_METRICS_TOKEN is set")


class MetricsController(PrometheusController):
    """Prometheus metrics, restricted by ``metrics_checks``."""

    path = "/metrics"
    tags = ["operations"]
    before_request = staticmethod(metrics_checks)

    @get(
        summary="Prometheus metrics (TICKETING_METRICS_TOKEN, or loopback only in production)",
        media_type="text/plain",
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type="text/plain",
                description="Prometheus text format",
                generate_examples=False,
            ),
            **error_responses(Unauthenticated, Forbidden),
        },
    )
    async def get(self) -> Response[bytes]:
        return await PrometheusController.get.fn(self)  # type: ignore[no-any-return]

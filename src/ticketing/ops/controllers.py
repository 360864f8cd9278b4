"""Operations endpoints: liveness (``/healthz``), readiness (``/readyz``: PostgreSQL and Redis
answer), the OpenAPI document (``/openapi.json``) and Prometheus metrics (``/metrics``, for a
bearer TICKETING_METRICS_TOKEN or, without one, loopback clients and local mode)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response
from litestar.types import Scope

from ticketing.core.errors import Forbidden, ServiceUnavailable, Unauthenticated
from ticketing.core.http import JsonBytes, problem
from ticketing.core.openapi import body_of, error_responses, openapi_json

_HEALTHY = msgspec.json.encode({"status": "ok"})


class ReadyOut(msgspec.Struct):
    status: str
    postgres: bool
    redis: bool


class OpsController(Controller):
    tags = ["operations"]
    include_in_schema = True

    @get("/healthz", summary="The process is up", responses={200: body_of(dict[str, str])})
    async def healthz(self) -> JsonBytes:
        return JsonBytes(_HEALTHY)  # encoded once: load balancers call this all day

    @get("/openapi.json", summary="The OpenAPI document", include_in_schema=False)
    async def openapi(self, request: Request) -> JsonBytes:  # type: ignore[type-arg]
        return JsonBytes(openapi_json(request.app))  # the completed document (core/openapi.py)

    @get(
        "/readyz",
        summary="PostgreSQL and Redis are reachable",
        # The 503 problem also says which: {"postgres": bool, "redis": bool}.
        responses={200: body_of(ReadyOut), **error_responses(ServiceUnavailable)},
    )
    async def readyz(self, state: State) -> Any:
        services = state.services

        async def postgres_ok() -> bool:
            try:
                async with asyncio.timeout(2), services.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
                return True
            except Exception:
                return False

        async def redis_ok() -> bool:
            try:
                async with asyncio.timeout(2):
                    return bool(await services.redis.ping())
            except Exception:
                return False

        pg, rd = await asyncio.gather(postgres_ok(), redis_ok())
        if pg and rd:
            return ReadyOut(status="ready", postgres=pg, redis=rd)
        failed = ", ".join(name for name, ok in (("PostgreSQL", pg), ("Redis", rd)) if not ok)
        return problem(503, "SERVICE_UNAVAILABLE", "Not ready", f"unreachable: {failed}", postgres=pg, redis=rd)


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
    for the operators' scraper, not for the public (issue 12)."""
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

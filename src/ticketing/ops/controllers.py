"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State

from ticketing.core.http import JsonBytes, problem
from ticketing.core.openapi import body_of

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
    async def openapi(self, request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
        return request.app.openapi_schema.to_schema()

    @get("/readyz", summary="PostgreSQL and Redis are reachable")
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

"""Baseline endpoints for ``make bench``: the same server stack doing (almost) nothing, one
PostgreSQL query, or one Redis command. Mounted only with TICKETING_BENCH_ENDPOINTS=true."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State


class BenchBaselineController(Controller):
    path = "/bench"
    tags = ["benchmark baselines"]
    include_in_schema = False

    @get("/constant")
    async def constant(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/pg")
    async def one_query(self, state: State) -> dict[str, int]:
        async with state.services.uow(autocommit=True) as uow:  # the read path every service uses
            value = await uow.db.fetchval("SELECT 1")
        return {"value": int(value)}

    @get("/redis")
    async def one_command(self, state: State) -> dict[str, bool]:
        return {"pong": bool(await state.services.redis.ping())}

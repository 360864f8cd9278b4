from __future__ import annotations

from litestar import Controller, get

from ticketing.admin.schemas import SaleDashboard
from ticketing.concerts.errors import ConcertNotFound
from ticketing.container import services
from ticketing.edge.http import AuthedRequest, admin_checks
from ticketing.edge.openapi import error_responses
from ticketing.edge.params import PathId
from ticketing.kernel.errors import Forbidden, Unauthenticated


class AdminDashboardController(Controller):
    path = "/api/v1/admin/concerts"
    tags = ["operators"]
    before_request = staticmethod(admin_checks)

    @get(
        "/{concert_id:str}/dashboard",
        responses=error_responses(Unauthenticated, Forbidden, ConcertNotFound),
        summary="Live sale figures: queue, seats available / held / sold per date, revenue, top holders",
    )
    async def dashboard(self, concert_id: PathId, request: AuthedRequest) -> SaleDashboard:
        return await services(request).admin.dashboard(concert_id)

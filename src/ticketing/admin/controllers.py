from __future__ import annotations

from litestar import Controller, get
from litestar.di import Provide

from ticketing.admin.dependencies import provide_admin_service
from ticketing.admin.schemas import SaleDashboard
from ticketing.admin.service import AdminService
from ticketing.concerts.errors import ConcertNotFound
from ticketing.core.errors import Forbidden, Unauthenticated
from ticketing.core.http import require_admin
from ticketing.core.openapi import error_responses
from ticketing.core.params import PathId


class AdminDashboardController(Controller):
    path = "/api/v1/admin/concerts"
    tags = ["operators"]
    guards = [require_admin]
    dependencies = {"admin": Provide(provide_admin_service, sync_to_thread=False)}

    @get(
        "/{concert_id:str}/dashboard",
        responses=error_responses(Unauthenticated, Forbidden, ConcertNotFound),
        summary="Live sale figures: queue, seats available / held / sold per date, revenue",
    )
    async def dashboard(self, concert_id: PathId, admin: AdminService) -> SaleDashboard:
        return await admin.dashboard(concert_id)

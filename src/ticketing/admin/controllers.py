from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from ticketing.admin.schemas import SaleClosed, SaleDashboard, SalesReport
from ticketing.admin.service import ORDER_COLUMNS
from ticketing.concerts.errors import ConcertNotFound
from ticketing.container import services
from ticketing.edge.auth import AuthedRequest, OperatorController
from ticketing.edge.openapi import error_responses
from ticketing.edge.params import CANONICAL, PathId
from ticketing.kernel.ids import MAX_ID
from ticketing.schedules.errors import ScheduleNotFound
from ticketing.waiting_room.schemas import QueueStats

CSV = "text/csv; charset=utf-8"
# One date of the concert, or (absent) all of them.
ScheduleFilter = Annotated[
    int | None,
    Parameter(
        query="schedule_id",
        required=False,
        gt=0,
        le=MAX_ID,
        description="Only this date of the concert (a schedule id); absent: every date",
    ),
    CANONICAL,
]


class AdminDashboardController(OperatorController):
    path = "/api/v1/admin/concerts"

    @get(
        "/{concert_id:str}/dashboard",
        responses=error_responses(ConcertNotFound),
        summary="Live sale figures: queue, seats available / held / sold per date, revenue, top holders",
    )
    async def dashboard(self, concert_id: PathId, request: AuthedRequest) -> SaleDashboard:
        return await services(request).admin.dashboard(concert_id)

    @post(
        "/{concert_id:str}/sale/pause",
        status_code=200,
        responses=error_responses(ConcertNotFound),
        summary="Pause the sale: nobody more is admitted from the queue (joins wait; admitted fans may hold and pay)",
    )
    async def pause(self, concert_id: PathId, request: AuthedRequest) -> QueueStats:
        return await services(request).admin.pause(concert_id)

    @post(
        "/{concert_id:str}/sale/resume",
        status_code=200,
        responses=error_responses(ConcertNotFound),
        summary="Resume a paused sale: the queue admits again, in the same order",
    )
    async def resume(self, concert_id: PathId, request: AuthedRequest) -> QueueStats:
        return await services(request).admin.resume(concert_id)

    @post(
        "/{concert_id:str}/sale/close",
        status_code=200,
        responses=error_responses(ConcertNotFound),
        summary="Close the sale now: admission paused and every open date's reservation window ended",
    )
    async def close(self, concert_id: PathId, request: AuthedRequest) -> SaleClosed:
        return await services(request).admin.close(concert_id)

    @get(
        "/{concert_id:str}/sales",
        responses=error_responses(ConcertNotFound, ScheduleNotFound),
        summary="Payments over time and each price class's seats free / held / sold (the operator's charts)",
    )
    async def sales(
        self, concert_id: PathId, request: AuthedRequest, schedule_id: ScheduleFilter = None
    ) -> SalesReport:
        return await services(request).admin.sales_report(concert_id, schedule_id)

    @get(
        "/{concert_id:str}/orders.csv",
        media_type=CSV,
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type=CSV,
                description="One line per paid seat (refunded ones too), by payment: "
                + ", ".join(ORDER_COLUMNS)
                + ". A text cell that a spreadsheet would read as a formula starts with an apostrophe.",
                generate_examples=False,
            ),
            **error_responses(ConcertNotFound, ScheduleNotFound),
        },
        summary="A concert's orders as CSV (streamed; one date with schedule_id)",
    )
    async def orders_csv(
        self, concert_id: PathId, request: AuthedRequest, schedule_id: ScheduleFilter = None
    ) -> Stream:
        lines = await services(request).admin.orders_csv(concert_id, schedule_id)
        name = f"concert-{concert_id}" + (f"-schedule-{schedule_id}" if schedule_id else "") + "-orders.csv"
        return Stream(lines, media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{name}"'})

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import Provide

from ticketing.concerts.errors import ConcertNotFound
from ticketing.core.errors import Forbidden, Unauthenticated, ValidationError
from ticketing.core.http import AuthedRequest, require_admin, require_user
from ticketing.core.openapi import body_of, error_responses
from ticketing.core.params import PathId
from ticketing.schedules.dependencies import provide_schedule_service
from ticketing.schedules.errors import ScheduleNotFound, ScheduleNotOpen
from ticketing.schedules.schemas import ScheduleCreatedOut, ScheduleIn, ScheduleOut, SeatOut
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.controllers import QueueTokenHeader
from ticketing.waiting_room.errors import TokenInvalid, TokenNotAdmitted

_TOKEN_ERRORS = (Unauthenticated, TokenInvalid, TokenNotAdmitted)


class ScheduleController(Controller):
    path = "/api/v1"
    tags = ["schedules and seats"]
    guards = [require_user]
    dependencies = {"schedules": Provide(provide_schedule_service, sync_to_thread=False)}

    @get(
        "/concerts/{concert_id:str}/schedules",
        responses={
            200: body_of(list[ScheduleOut]),
            **error_responses(*_TOKEN_ERRORS, ConcertNotFound),
        },
        summary="Dates open for reservation with seats left (seed flow 5)",
    )
    async def open_schedules(
        self,
        concert_id: PathId,
        request: AuthedRequest,
        schedules: ScheduleService,
        x_queue_token: QueueTokenHeader = None,
    ) -> Response[bytes]:
        body = await schedules.open_schedules(request.user.user_id, x_queue_token, concert_id)
        return Response(body, media_type="application/json")

    @get(
        "/schedules/{schedule_id:str}/seats",
        responses={
            200: body_of(list[SeatOut]),
            **error_responses(*_TOKEN_ERRORS, ScheduleNotFound, ScheduleNotOpen),
        },
        summary="Every seat of a schedule, each marked available or not (seed flow 6)",
    )
    async def seats(
        self,
        schedule_id: PathId,
        request: AuthedRequest,
        schedules: ScheduleService,
        x_queue_token: QueueTokenHeader = None,
    ) -> Response[bytes]:
        body = await schedules.seats(request.user.user_id, x_queue_token, schedule_id)
        return Response(body, media_type="application/json")


class AdminScheduleController(Controller):
    path = "/api/v1/admin/concerts"
    tags = ["operators"]
    guards = [require_admin]
    dependencies = {"schedules": Provide(provide_schedule_service, sync_to_thread=False)}

    @post(
        "/{concert_id:str}/schedules",
        status_code=201,
        responses=error_responses(Unauthenticated, Forbidden, ValidationError, ConcertNotFound),
        summary="Create a schedule with seats numbered 1..seat_count",
    )
    async def create_schedule(
        self, concert_id: PathId, data: ScheduleIn, schedules: ScheduleService
    ) -> ScheduleCreatedOut:
        return await schedules.create_schedule(concert_id, data)

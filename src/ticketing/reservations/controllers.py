from __future__ import annotations

from litestar import Controller, delete, get, post

from ticketing.core.errors import Unauthenticated, UnsupportedMediaType
from ticketing.core.http import AuthedRequest, account_checks, user_checks
from ticketing.core.openapi import error_responses
from ticketing.core.pagination import DEFAULT_LIMIT, CursorParam, LimitParam
from ticketing.core.params import PathId
from ticketing.core.ratelimit import client_address, enforce
from ticketing.reservations.dependencies import reservation_service
from ticketing.reservations.errors import (
    HoldLimitReached,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
    SeatNotFound,
    SeatUnavailable,
)
from ticketing.reservations.schemas import HoldIn, ReservationOut, ReservationPage
from ticketing.schedules.errors import ScheduleNotFound, ScheduleNotOpen
from ticketing.waiting_room.controllers import QueueTokenHeader
from ticketing.waiting_room.errors import TokenInvalid, TokenNotAdmitted


class ReservationController(Controller):
    path = "/api/v1/reservations"
    tags = ["reservations"]
    before_request = staticmethod(user_checks)

    @post(
        "/",
        status_code=201,
        before_request=account_checks,
        responses=error_responses(
            Unauthenticated,
            TokenInvalid,
            TokenNotAdmitted,
            SeatNotFound,
            ScheduleNotFound,
            ScheduleNotOpen,
            SeatUnavailable,
            HoldLimitReached,
            UnsupportedMediaType,
        ),
        summary="Hold a seat for TICKETING_HOLD_SECONDS (seed flow 7)",
    )
    async def hold(
        self,
        data: HoldIn,
        request: AuthedRequest,
        x_queue_token: QueueTokenHeader = None,
    ) -> ReservationOut:
        # The per-address hold cap counts the address the rate limits count (forwarded by a
        # trusted proxy, IPv6 per /64).
        address = client_address(request)
        await enforce(request, "hold", account=str(request.user.user_id), address=address)
        return await reservation_service(request).hold_seat(
            request.user, x_queue_token, data.seat_id, client_address=address
        )

    @get("/", responses=error_responses(Unauthenticated), summary="Your reservations, newest first")
    async def list_reservations(
        self,
        request: AuthedRequest,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> ReservationPage:
        return await reservation_service(request).list_reservations(request.user, cursor, limit)

    @get(
        "/{reservation_id:str}",
        responses=error_responses(Unauthenticated, ReservationNotFound, ReservationUserMismatch),
        summary="One of your reservations",
    )
    async def get_reservation(self, reservation_id: PathId, request: AuthedRequest) -> ReservationOut:
        return await reservation_service(request).get_reservation(request.user, reservation_id)

    @delete(
        "/{reservation_id:str}",
        status_code=204,
        before_request=account_checks,
        responses=error_responses(Unauthenticated, ReservationNotFound, ReservationUserMismatch, ReservationNotHeld),
        summary="Release a hold",
    )
    async def release(self, reservation_id: PathId, request: AuthedRequest) -> None:
        await reservation_service(request).release(request.user, reservation_id)

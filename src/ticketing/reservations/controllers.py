from __future__ import annotations

import msgspec
from litestar import Controller, delete, get, post
from litestar.datastructures import CacheControlHeader

from ticketing.container import services
from ticketing.edge.auth import AuthedRequest, account_checks, current_account, user_checks
from ticketing.edge.context import answer_is_personal
from ticketing.edge.lane import FAST_LANE
from ticketing.edge.openapi import Link, body_of, error_responses, linked
from ticketing.edge.pagination import CursorParam, LimitParam
from ticketing.edge.params import PathId, QueueTokenHeader
from ticketing.edge.problems import problem_answer
from ticketing.edge.rate_limit_hooks import client_address, enforce
from ticketing.edge.responses import JsonBytes
from ticketing.kernel.errors import RateLimited
from ticketing.kernel.pagination import DEFAULT_LIMIT
from ticketing.reservations.errors import (
    HoldLimitReached,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
    SeatNotFound,
    SeatUnavailable,
    TicketLimitReached,
)
from ticketing.reservations.schemas import Allowance, HoldIn, ReservationList, ReservationOut, ReservationPage
from ticketing.schedules.errors import ScheduleNotFound, ScheduleNotOpen


class ReservationController(Controller):
    path = "/api/v1/reservations"
    tags = ["reservations"]
    before_request = staticmethod(account_checks)

    @post(
        "/",
        status_code=201,
        # The account check comes in the handler, after a race's loser has been answered.
        before_request=user_checks,
        responses={
            201: body_of(ReservationOut | ReservationList, "Document created, URL follows"),
            **error_responses(
                SeatNotFound,
                ScheduleNotFound,
                ScheduleNotOpen,
                SeatUnavailable,
                HoldLimitReached,
                TicketLimitReached,
                RateLimited,
            ),
        },
        summary="Hold a seat, several, or the best available of a class for TICKETING_HOLD_SECONDS",
        # What a fan does next with the hold (followed by schemathesis' stateful phase, make test-api).
        opt=FAST_LANE
        | linked(
            Link(
                "PayForTheHold",
                "POST",
                "/api/v1/payments",
                # The whole body: the one reservation, and no list of them (a client that fills a
                # generated body from the link gets exactly one of the two, as PaymentIn requires).
                request_body={"reservation_id": "$response.body#/id", "reservation_ids": None},
                description="Pay for the seat just held",
            ),
            Link(
                "ReadTheHold",
                "GET",
                "/api/v1/reservations/{reservation_id}",
                parameters={"reservation_id": "$response.body#/id"},
            ),
            Link(
                "ReleaseTheHold",
                "DELETE",
                "/api/v1/reservations/{reservation_id}",
                parameters={"reservation_id": "$response.body#/id"},
            ),
        ),
    )
    async def hold(
        self,
        data: HoldIn,
        request: AuthedRequest,
        x_queue_token: QueueTokenHeader = None,
    ) -> JsonBytes:
        answer_is_personal(request)  # no-store, as every answer of an account-checked endpoint
        try:
            # A race's loser, on a seat this process saw taken: told so after the checks of a
            # seat list read, before the account read and the rate limits' counters
            # (ReservationService.refuse_known_taken says why that is safe).
            one_seat = [data.seat_id] if data.seat_id is not None else data.seat_ids
            if one_seat is not None:
                await services(request).reservations.refuse_known_taken(request.user, x_queue_token, one_seat)
            await current_account(request)
            # The per-address hold cap counts the address the rate limits count (forwarded by a
            # trusted proxy, IPv6 per /64).
            address = client_address(request)
            await enforce(request, "hold", account=str(request.user.user_id), address=address)
            held = await self._hold(data, request, x_queue_token, address)
        except SeatUnavailable as lost:
            # Most answers of a race are this one: returned, not raised through Litestar's
            # exception middleware (its handler look-up, a second Request, the unwinding), the
            # same problem+json as the exception handler writes.
            return problem_answer(lost)
        return JsonBytes(msgspec.json.encode(held), status_code=201)

    @staticmethod
    async def _hold(
        data: HoldIn, request: AuthedRequest, x_queue_token: str | None, address: str
    ) -> ReservationOut | ReservationList:
        service = services(request).reservations
        if data.schedule_id is not None:
            assert data.class_ is not None and data.quantity is not None  # HoldIn takes the three together
            held = await service.hold_best_available(
                request.user, x_queue_token, data.schedule_id, data.class_, data.quantity, client_address=address
            )
            return ReservationList(items=held)
        if data.seat_ids is not None:
            held = await service.hold_seats(request.user, x_queue_token, data.seat_ids, client_address=address)
            return ReservationList(items=held)
        assert data.seat_id is not None  # HoldIn takes exactly one of the two
        return await service.hold_seat(request.user, x_queue_token, data.seat_id, client_address=address)

    @get("/", summary="Your reservations, newest first")
    async def list_reservations(
        self,
        request: AuthedRequest,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> ReservationPage:
        return await services(request).reservations.list_reservations(request.user, cursor, limit)

    @get(
        "/{reservation_id:str}",
        responses=error_responses(ReservationNotFound, ReservationUserMismatch),
        summary="One of your reservations",
    )
    async def get_reservation(self, reservation_id: PathId, request: AuthedRequest) -> ReservationOut:
        return await services(request).reservations.get_reservation(request.user, reservation_id)

    @delete(
        "/{reservation_id:str}",
        status_code=204,
        before_request=account_checks,
        responses=error_responses(ReservationNotFound, ReservationUserMismatch, ReservationNotHeld),
        summary="Release a hold",
        description="The reservation stays: it reads with status CANCELLED afterwards (docs/api.md).",
    )
    async def release(self, reservation_id: PathId, request: AuthedRequest) -> None:
        await services(request).reservations.release(request.user, reservation_id)


class AllowanceController(Controller):
    """The per-fan ticket limit as the fan sees it before choosing seats (docs/api.md)."""

    path = "/api/v1/schedules"
    tags = ["reservations"]
    before_request = staticmethod(account_checks)  # the fan's own data: a revoked token reads nothing

    @get(
        "/{schedule_id:str}/allowance",
        cache_control=CacheControlHeader(no_store=True),
        responses=error_responses(ScheduleNotFound),
        summary="How many more seats of this date you may hold (TICKETING_MAX_TICKETS_PER_FAN)",
        description="`held` counts your live holds of the date, `paid` your paid seats of it not refunded; "
        "`remaining` = `max_tickets` - `held` - `paid`, and no more than the per-fan hold cap "
        "(TICKETING_MAX_HOLDS_PER_USER, live holds of every date) leaves. A hold of more: 409 "
        "TICKET_LIMIT_REACHED (or HOLD_LIMIT_REACHED).",
    )
    async def allowance(self, schedule_id: PathId, request: AuthedRequest) -> Allowance:
        return await services(request).reservations.allowance(request.user, schedule_id)

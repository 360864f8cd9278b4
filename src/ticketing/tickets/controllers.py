from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec

from ticketing.container import services
from ticketing.edge.auth import AuthedRequest, OperatorController, account_checks, door_checks
from ticketing.edge.openapi import Link, error_responses, linked
from ticketing.edge.pagination import CursorParam, LimitParam
from ticketing.edge.params import PathId
from ticketing.kernel.pagination import DEFAULT_LIMIT
from ticketing.schedules.errors import ScheduleNotFound
from ticketing.tickets.errors import (
    TicketAlreadyUsed,
    TicketNotFound,
    TicketRefunded,
    TicketUserMismatch,
    TicketWrongSchedule,
)
from ticketing.tickets.schemas import CheckInIn, DoorCount, DoorDate, TicketOut, TicketPage, TicketStatus
from ticketing.tickets.service import CSV_COLUMNS

SVG = "image/svg+xml"
CSV = "text/csv; charset=utf-8"
NEWEST = "$response.body#/items/0/"  # the newest ticket of a page

_OWNER_ERRORS = (TicketNotFound, TicketUserMismatch)


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]
    before_request = staticmethod(account_checks)

    @get(
        "/",
        summary="Your tickets (one per payment), newest first",
        # What a fan (or a door) does next with the newest ticket (followed by schemathesis'
        # stateful phase, make test-api).
        opt=linked(
            Link("ReadTheTicket", "GET", "/api/v1/tickets/{ticket_id}", 200, {"ticket_id": NEWEST + "id"}),
            Link("ItsQrCode", "GET", "/api/v1/tickets/{ticket_id}/qr.svg", 200, {"ticket_id": NEWEST + "id"}),
            Link(
                "RefundItsPayment",
                "POST",
                "/api/v1/payments/{payment_id}/refund",
                200,
                {"payment_id": NEWEST + "payment_id"},
            ),
            Link(
                "CheckItIn",
                "POST",
                "/api/v1/admin/check-ins",
                200,
                request_body={"code": NEWEST + "code"},
                description="An operator lets the ticket in at the door",
            ),
        ),
    )
    async def list_tickets(
        self,
        request: AuthedRequest,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> TicketPage:
        return await services(request).tickets.list_tickets(request.user, cursor, limit)

    @get("/{ticket_id:str}", responses=error_responses(*_OWNER_ERRORS), summary="One of your tickets")
    async def get_ticket(self, ticket_id: PathId, request: AuthedRequest) -> TicketOut:
        return await services(request).tickets.get_ticket(request.user, ticket_id)

    @get(
        "/{ticket_id:str}/qr.svg",
        media_type=SVG,
        responses={
            200: ResponseSpec(data_container=str, media_type=SVG, description="The QR code of the ticket's code"),
            **error_responses(*_OWNER_ERRORS),
        },
        summary="Your ticket's QR code (SVG), to show at the door",
    )
    async def qr_code(self, ticket_id: PathId, request: AuthedRequest) -> Response[bytes]:
        svg = await services(request).tickets.qr_code(request.user, ticket_id)
        # The code gets its holder in: kept by no cache, shared or private.
        return Response(svg, media_type=SVG, headers={"Cache-Control": "no-store"})


class AdminCheckInController(Controller):
    """The door: door staff and operators (``door_checks``)."""

    path = "/api/v1/admin"
    tags = ["operators"]
    before_request = staticmethod(door_checks)

    @post(
        "/check-ins",
        status_code=200,
        responses=error_responses(
            TicketNotFound, ScheduleNotFound, TicketAlreadyUsed, TicketRefunded, TicketWrongSchedule
        ),
        summary="Check a ticket in at the door by its code: 200 the first time, then 409 TICKET_ALREADY_USED "
        "(the problem carries the first checked_in_at); with schedule_id, a ticket of another date is 409 "
        "TICKET_WRONG_SCHEDULE and stays valid",
    )
    async def check_in(self, data: CheckInIn, request: AuthedRequest) -> TicketOut:
        return await services(request).tickets.check_in(data.code, data.schedule_id)

    @get(
        "/door/dates",
        summary="The dates a door can serve (started less than a day ago or to come), soonest first",
    )
    async def door_dates(self, request: AuthedRequest) -> list[DoorDate]:
        return await services(request).tickets.door_dates()

    @get(
        "/schedules/{schedule_id:str}/door",
        responses=error_responses(ScheduleNotFound),
        summary="A date's door, live: tickets checked in and tickets sold (the Door page polls it)",
    )
    async def door_count(self, schedule_id: PathId, request: AuthedRequest) -> DoorCount:
        return await services(request).tickets.door_count(schedule_id)


class AdminScheduleTicketController(OperatorController):
    """A date's tickets for the operators (``admin_checks``)."""

    path = "/api/v1/admin/schedules"

    @get(
        "/{schedule_id:str}/tickets",
        responses=error_responses(ScheduleNotFound),
        summary="A date's tickets, checked in or not (status filters), newest first, paged",
    )
    async def schedule_tickets(
        self,
        schedule_id: PathId,
        request: AuthedRequest,
        status: TicketStatus | None = None,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> TicketPage:
        return await services(request).tickets.schedule_tickets(schedule_id, status, cursor, limit)

    @get(
        "/{schedule_id:str}/tickets.csv",
        media_type=CSV,
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type=CSV,
                description="One line per ticket of the date, by seat number: " + ", ".join(CSV_COLUMNS),
                generate_examples=False,
            ),
            **error_responses(ScheduleNotFound),
        },
        summary="A date's tickets as CSV (every ticket, checked in or not)",
    )
    async def schedule_tickets_csv(self, schedule_id: PathId, request: AuthedRequest) -> Response[bytes]:
        body = await services(request).tickets.schedule_csv(schedule_id)
        disposition = f'attachment; filename="schedule-{schedule_id}-tickets.csv"'
        return Response(body, media_type=CSV, headers={"Content-Disposition": disposition})

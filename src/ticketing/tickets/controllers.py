from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec

from ticketing.core.errors import Forbidden, Unauthenticated, UnsupportedMediaType
from ticketing.core.http import AuthedRequest, admin_checks, user_checks
from ticketing.core.openapi import Link, error_responses, linked
from ticketing.core.pagination import DEFAULT_LIMIT, CursorParam, LimitParam
from ticketing.core.params import PathId
from ticketing.tickets.dependencies import ticket_service
from ticketing.tickets.errors import TicketAlreadyUsed, TicketNotFound, TicketRefunded, TicketUserMismatch
from ticketing.tickets.schemas import CheckInIn, TicketOut, TicketPage

SVG = "image/svg+xml"
NEWEST = "$response.body#/items/0/"  # the newest ticket of a page

_OWNER_ERRORS = (Unauthenticated, TicketNotFound, TicketUserMismatch)


class TicketController(Controller):
    path = "/api/v1/tickets"
    tags = ["tickets"]
    before_request = staticmethod(user_checks)

    @get(
        "/",
        responses=error_responses(Unauthenticated),
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
        return await ticket_service(request).list_tickets(request.user, cursor, limit)

    @get("/{ticket_id:str}", responses=error_responses(*_OWNER_ERRORS), summary="One of your tickets")
    async def get_ticket(self, ticket_id: PathId, request: AuthedRequest) -> TicketOut:
        return await ticket_service(request).get_ticket(request.user, ticket_id)

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
        svg = await ticket_service(request).qr_code(request.user, ticket_id)
        # The code gets its holder in: kept by no cache, shared or private.
        return Response(svg, media_type=SVG, headers={"Cache-Control": "no-store"})


class AdminCheckInController(Controller):
    path = "/api/v1/admin/check-ins"
    tags = ["operators"]
    before_request = staticmethod(admin_checks)

    @post(
        "/",
        status_code=200,
        responses=error_responses(
            Unauthenticated, Forbidden, TicketNotFound, TicketAlreadyUsed, TicketRefunded, UnsupportedMediaType
        ),
        summary="Check a ticket in at the door by its code: 200 the first time, then 409 TICKET_ALREADY_USED "
        "(the problem carries the first checked_in_at)",
    )
    async def check_in(self, data: CheckInIn, request: AuthedRequest) -> TicketOut:
        return await ticket_service(request).check_in(data.code)

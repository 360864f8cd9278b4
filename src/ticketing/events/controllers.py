from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from ticketing.concerts.errors import ConcertNotFound
from ticketing.container import services
from ticketing.edge.auth import AppRequest, AuthedRequest, user_checks
from ticketing.edge.openapi import error_responses
from ticketing.edge.params import QueueTokenHeader
from ticketing.events.schemas import EventTicketIn, EventTicketOut, StreamEvent
from ticketing.kernel.errors import Unauthenticated
from ticketing.schedules.errors import ScheduleNotFound, ScheduleNotOpen

# secrets.token_urlsafe(24): 32 characters of the URL-safe base64 alphabet.
Ticket = Annotated[str, Parameter(query="ticket", min_length=32, max_length=32, pattern=r"^[A-Za-z0-9_-]{32}\Z")]

STREAM_DESCRIPTION = """A Server-Sent Events stream (`text/event-stream`) for one ticket from `POST
/api/v1/events/tickets`, which it uses up. Events: `queue` (data: the token info, as `GET
/queue/tokens/me`; sent when the status or position changes; the last when the status is no longer
WAITING), `seats` (data: `{schedule_id, etag}`; the date's seat availability changed: read the seat
map or list again), `alive` (every TICKETING_EVENT_HEARTBEAT_SECONDS when nothing changed), `end`
(data: `{code, status}`: the pass or the date is no longer valid, as the polled endpoint would
answer), `bye` (the stream's life is over or the server stops; `reconnect`: ask a new ticket)."""


class EventController(Controller):
    path = "/api/v1/events"
    tags = ["live events"]

    @post(
        "/tickets",
        status_code=201,
        before_request=user_checks,
        responses=error_responses(ConcertNotFound, ScheduleNotFound, ScheduleNotOpen),
        summary="A single-use ticket (30 s) to open the event stream: bearer and X-Queue-Token as the "
        "polled endpoints, never in the stream's URL",
    )
    async def issue_ticket(
        self, data: EventTicketIn, request: AuthedRequest, x_queue_token: QueueTokenHeader = None
    ) -> EventTicketOut:
        return await services(request).events.issue_ticket(request.user, x_queue_token, data)

    @get(
        "/",
        responses={
            200: ResponseSpec(
                data_container=StreamEvent,
                media_type="text/event-stream",
                description="The stream; the schema is that of one event",
                generate_examples=False,
            ),
            **error_responses(Unauthenticated),
        },
        summary="The pages' push channel (Server-Sent Events) for queue admission and seat changes",
        description=STREAM_DESCRIPTION,
    )
    async def stream(self, request: AppRequest, ticket: Ticket) -> Stream:
        body = await services(request).events.open_stream(ticket)
        return Stream(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

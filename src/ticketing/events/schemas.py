from __future__ import annotations

from typing import Annotated

import msgspec

from ticketing.kernel.ids import MAX_ID

EntityId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class EventTicketIn(msgspec.Struct, forbid_unknown_fields=True):
    """What the stream will watch: the fan's place in the concert's queue, or (``schedule_id``,
    once admitted) the date's seat availability."""

    concert_id: EntityId
    schedule_id: EntityId | None = None


class EventTicketOut(msgspec.Struct):
    ticket: str
    expires_in: int
    url: str


class StreamEvent(msgspec.Struct):
    """One event of the stream as a Server-Sent Events client parses it (the OpenAPI document's
    schema of ``text/event-stream`` is that of a single event): ``event`` names it (queue, seats,
    alive, end, bye) and ``data`` is its JSON text."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class Watch(msgspec.Struct, frozen=True):
    """A ticket's content, kept in Redis (never in a URL): whose stream and of what."""

    user_id: int
    queue_token: str
    concert_id: int
    schedule_id: int | None

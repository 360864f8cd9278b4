"""One push channel (Server-Sent Events) for what the fan's pages poll: the queue page's place
and admission, and a date's seat availability. Polling stays the fallback; see docs/live-pages.md.

Why a ticket: EventSource cannot send headers, and the polled endpoints take the bearer token and
the queue token in headers. Those must not go into a URL (access logs, proxies, the browser's
history keep URLs), so the page first asks for a ticket with the same headers as the polled
endpoints (``POST /api/v1/events/tickets``: the same checks, the same refusals) and opens the
stream with it. A ticket is random (192 bits), lives ``event_ticket_seconds`` and is taken on
first use (GETDEL), so one seen in a log opens nothing. What it grants (user, queue token,
concert, date) stays in Redis.

A stream is bounded three ways: a per-process cap (``event_streams_max``; beyond it 503 and the
page polls), a life (``event_stream_seconds``, then ``bye`` and the page reconnects with a new
ticket: an admission that ends or a queue token that expires is seen within that), and the
server's shutdown (every stream says ``bye`` and ends, so a deploy does not wait on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncGenerator
from dataclasses import KW_ONLY, dataclass, field

import msgspec

from ticketing.events.schemas import EventTicketIn, EventTicketOut, Watch
from ticketing.events.store import EventTicketStore
from ticketing.kernel import deadline
from ticketing.kernel.errors import AppError, ServiceUnavailable, Unauthenticated
from ticketing.kernel.security import Principal
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.errors import TokenForbidden
from ticketing.waiting_room.service import WaitingRoomService

STREAM_PATH = "/api/v1/events"
# How often a stream looks at the seat map (each look is the process's cached copy: one database
# read per date per cache period, whatever the number of streams) and, at most, at the queue.
SEAT_LOOK_SECONDS = 1.0
# A stream of a date re-checks its pass (the seat map's checks: admitted, the date open) this
# often; between checks it reads the date's ETag that one stream of this process read within the
# last SEAT_LOOK_SECONDS: a look is then a dictionary read, whatever the number of streams.
PASS_CHECK_SECONDS = 10.0
QUEUE_LOOK_MIN_SECONDS = 1.0
QUEUE_LOOK_MAX_SECONDS = 10.0


def event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


@dataclass(slots=True)
class EventService:
    store: EventTicketStore
    waiting_room: WaitingRoomService
    schedules: ScheduleService
    _: KW_ONLY
    max_streams: int
    ticket_seconds: int
    stream_seconds: float
    heartbeat_seconds: float
    request_deadline_seconds: float
    _open: int = field(default=0, init=False)
    _closing: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # schedule id -> (read at, seat map ETag)
    _etags: dict[int, tuple[float, str]] = field(default_factory=dict, init=False)

    @property
    def open_streams(self) -> int:
        return self._open

    async def issue_ticket(self, principal: Principal, queue_token: str | None, data: EventTicketIn) -> EventTicketOut:
        """The polled endpoints' checks, then a ticket: token info's for the queue (the token is
        the fan's and of this concert), the seat map's for a date (admitted, the date open)."""
        info = await self.waiting_room.token_info(queue_token)
        if info.user.id != principal.user_id or info.concert_id != data.concert_id:
            raise TokenForbidden("The queue token is another user's or of another concert")
        if data.schedule_id is not None:
            await self.schedules.seat_map(principal.user_id, queue_token, data.schedule_id)
        watch = Watch(principal.user_id, info.token, data.concert_id, data.schedule_id)
        ticket = await self.store.put(watch, self.ticket_seconds)
        return EventTicketOut(ticket=ticket, expires_in=self.ticket_seconds, url=f"{STREAM_PATH}?ticket={ticket}")

    async def open_stream(self, ticket: str) -> AsyncGenerator[bytes, None]:
        """The stream of a ticket, taken now (refusals are answered before the stream starts)."""
        if self._closing.is_set() or self._open >= self.max_streams:
            raise ServiceUnavailable("Too many event streams here; poll instead", headers={"Retry-After": "5"})
        watch = await self.store.take(ticket)
        if watch is None:
            raise Unauthenticated("Unknown, expired or already used event ticket")
        return self._stream(watch)

    def close_all(self) -> None:
        """At shutdown: every stream says ``bye`` and ends; no new one opens."""
        self._closing.set()

    async def _stream(self, watch: Watch) -> AsyncGenerator[bytes, None]:
        # Counted from its first step to its end however it ends (a generator closed before its
        # first step runs no ``finally``). The bound is checked at open: opens in flight at the
        # same moment may pass it by their number.
        self._open += 1
        try:
            yield b"retry: 5000\n\n"
            started = last_sent = time.monotonic()
            last: bytes | None = None
            checked = [-math.inf]  # when this stream's pass was last checked
            while not self._closing.is_set() and time.monotonic() - started < self.stream_seconds:
                deadline.start(self.request_deadline_seconds)  # each look is a read of its own
                try:
                    name, key, data, wait, final = await self._look(watch, checked)
                except AppError as error:  # the pass ended, the date closed, a dependency is down
                    yield event("end", {"code": error.code, "status": error.status})
                    return
                now = time.monotonic()
                if key != last:
                    yield event(name, data)
                    last, last_sent = key, now
                elif now - last_sent >= self.heartbeat_seconds:
                    yield event("alive", {"at": int(time.time())})  # the page's "last updated"
                    last_sent = now
                if final:
                    return
                with contextlib.suppress(TimeoutError):  # woken early only by shutdown
                    await asyncio.wait_for(self._closing.wait(), timeout=wait)
            yield event("bye", {"reconnect": not self._closing.is_set()})
        finally:
            self._open -= 1

    async def _look(self, watch: Watch, checked: list[float]) -> tuple[str, bytes, object, float, bool]:
        """(event name, what identifies the state, the event's data, seconds to the next look,
        whether this is the last event)."""
        if watch.schedule_id is None:
            info = await self.waiting_room.token_info(watch.queue_token)
            key = msgspec.json.encode([info.status, info.position, info.pre_queue, info.paused])
            wait = min(QUEUE_LOOK_MAX_SECONDS, max(QUEUE_LOOK_MIN_SECONDS, info.poll_after_ms / 1000))
            return "queue", key, info, wait, info.status != "WAITING"
        now = time.monotonic()
        shared = self._etags.get(watch.schedule_id)
        if now - checked[0] >= PASS_CHECK_SECONDS or shared is None or now - shared[0] >= SEAT_LOOK_SECONDS:
            etag = (await self.schedules.seat_map(watch.user_id, watch.queue_token, watch.schedule_id)).etag
            self._etags[watch.schedule_id] = (now, etag)
            checked[0] = now
        else:
            etag = shared[1]
        data = {"schedule_id": watch.schedule_id, "etag": etag}
        return "seats", etag.encode(), data, SEAT_LOOK_SECONDS, False

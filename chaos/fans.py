"""Fans that behave like real clients of a flash sale.

Each fan joins the waiting room, polls its token honouring ``poll_after_ms``, reads the dates
and the seat map, holds a free seat (choosing again when someone was faster), then pays with an
Idempotency-Key, retrying the same key after a network error, a 5xx or a "key in use" with a
short backoff. One in ten walks away from its hold. A 401 TOKEN_INVALID sends the fan back to
the queue (its hold and its payment key are kept). Every request has a client timeout; a
request that exceeds it is recorded as hung. Some fans send their payment several times at
once with one key (a double-clicking, retrying app): every twin must get the same answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx
import msgspec
from bench.fixtures import LoadTestFan

from chaos.journal import HUNG, NETWORK, Answer, Journal, KeyAnswer, PaymentTrail, TwinGroup, is_transient

CLIENT_TIMEOUT = 10.0
TWINS = 5
MAX_BACKOFF = 1.0


class Next(Enum):
    REJOIN = "rejoin"  # the queue token is gone: join again
    WAIT = "wait"  # not admitted (any more): poll again
    STOP = "stop"  # done, or nothing left to do
    RETRY = "retry"  # try the step again


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    code: str
    body: Any = None
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return is_transient(self.status, self.code)


@dataclass
class Sale:
    """What every fan of one phase shares."""

    http: httpx.AsyncClient
    journal: Journal
    concert_id: int
    t0: float  # the phase's start (monotonic)
    deadline: float  # monotonic; moved once the fault's end is known
    abandon_share: float = 0.1
    twin_share: float = 0.1

    def now(self) -> float:
        return time.monotonic() - self.t0

    def open(self) -> bool:
        return time.monotonic() < self.deadline


class Fan:
    def __init__(self, sale: Sale, fan: LoadTestFan, seed: int) -> None:
        self.sale = sale
        self.fan = fan
        self.rng = random.Random(seed)
        self.token: str | None = None
        self.poll_after = 0.5
        self.admitted = False
        self.reservation: int | None = None
        self.trail: PaymentTrail | None = None
        self.twin = self.rng.random() < sale.twin_share
        self.failures = 0

    # --- one request --------------------------------------------------------------------------

    async def call(
        self, endpoint: str, method: str, path: str, *, queue: bool = False, key: str | None = None, body: object = None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self.fan.access_token}"}
        if queue and self.token:
            headers["X-Queue-Token"] = self.token
        if key:
            headers["Idempotency-Key"] = key
        started = self.sale.now()
        try:
            async with asyncio.timeout(CLIENT_TIMEOUT):
                response = await self.sale.http.request(method, path, headers=headers, json=body)
        except TimeoutError:
            reply = Reply(HUNG, "HUNG")
        except httpx.HTTPError as error:
            reply = Reply(NETWORK, type(error).__name__)
        else:
            reply = _reply(response)
        self.sale.journal.record(Answer(endpoint, started, self.sale.now(), reply.status, reply.code))
        return reply

    async def backoff(self, reply: Reply | None = None) -> None:
        """A short, jittered, growing pause; a server's Retry-After wins when it sent one."""
        self.failures += 1
        pause = min(MAX_BACKOFF, 0.1 * 2 ** min(self.failures, 4)) * (0.5 + self.rng.random())
        if reply is not None and reply.retry_after is not None:
            pause = min(reply.retry_after, 3.0)
        await asyncio.sleep(pause)

    # --- the journey --------------------------------------------------------------------------

    async def journey(self, arrival: float) -> None:
        await asyncio.sleep(arrival)
        while self.sale.open():
            if not await self.join():
                return
            step = Next.RETRY if self.admitted else await self.wait_admitted()
            while step is Next.WAIT:
                step = await self.wait_admitted()
            if step is Next.REJOIN:
                self.sale.journal.rejoins += 1
                continue
            if step is Next.STOP:
                return
            step = await self.buy()
            if step is Next.REJOIN:
                self.sale.journal.rejoins += 1
                continue
            if step is Next.WAIT:
                continue  # join again returns the live token, then poll it
            return

    async def join(self) -> bool:
        while self.sale.open():
            reply = await self.call("join", "POST", f"/api/v1/concerts/{self.sale.concert_id}/queue/tokens")
            if reply.status in (200, 201) and isinstance(reply.body, dict):
                self.token = str(reply.body["token"])
                self.poll_after = _poll_after(reply.body)
                self.admitted = reply.body.get("status") == "ACTIVE"
                self.failures = 0
                return str(reply.body.get("status")) != "SOLD_OUT"
            if not reply.transient:
                return False  # 401 UNAUTHENTICATED or 404: nothing a retry would change
            await self.backoff(reply)
        return False

    async def wait_admitted(self) -> Next:
        """Poll the token until it is ACTIVE, honouring ``poll_after_ms``."""
        while self.sale.open():
            await asyncio.sleep(self.poll_after)
            reply = await self.call("poll", "GET", "/api/v1/queue/tokens/me", queue=True)
            if reply.status == 200 and isinstance(reply.body, dict):
                self.poll_after = _poll_after(reply.body)
                status = str(reply.body.get("status"))
                if status == "ACTIVE":
                    return Next.RETRY
                if status in ("DONE", "EXPIRED"):
                    return Next.REJOIN
                if status == "SOLD_OUT":
                    return Next.STOP
                continue
            if reply.code == "TOKEN_INVALID":
                return Next.REJOIN
            if not reply.transient:
                return Next.STOP
            self.poll_after = 0
            await self.backoff(reply)
        return Next.STOP

    async def buy(self) -> Next:
        while self.sale.open():
            if self.reservation is None:
                step = await self.hold_a_seat()
                if step is not Next.RETRY:
                    return step
                if self.reservation is None:
                    continue
            step = await self.pay()
            if step is not Next.RETRY:
                return step
        return Next.STOP

    async def free_seats(self) -> list[int] | Next:
        """The dates, then the seat map of one open date: the free seats, shuffled."""
        sale = self.sale
        dates = await self.call("dates", "GET", f"/api/v1/concerts/{sale.concert_id}/schedules", queue=True)
        if not isinstance(dates.body, list):
            return await self._after_failure(dates)
        open_dates = [d for d in dates.body if isinstance(d, dict) and d.get("available_seats", 0) > 0]
        if not open_dates:
            return Next.STOP  # sold out, or every seat held: this fan goes home
        schedule = self.rng.choice(open_dates)
        seats = await self.call("seats", "GET", f"/api/v1/schedules/{schedule['id']}/seats", queue=True)
        if not isinstance(seats.body, list):
            return await self._after_failure(seats)
        free = [int(s["id"]) for s in seats.body if isinstance(s, dict) and s.get("available")]
        self.rng.shuffle(free)
        return free

    async def hold_a_seat(self) -> Next:
        sale = self.sale
        free = await self.free_seats()
        if isinstance(free, Next):
            return free
        for seat_id in free[:5]:
            held = await self.call("hold", "POST", "/api/v1/reservations", queue=True, body={"seat_id": seat_id})
            if held.status == 201 and isinstance(held.body, dict):
                self.failures = 0
                self.reservation = int(held.body["id"])
                sale.journal.received_reservations.add(self.reservation)
                if self.rng.random() < sale.abandon_share:
                    held_until = _epoch(str(held.body.get("held_until", "")))
                    sale.journal.abandoned.append((self.fan.id, self.reservation, held_until))
                    self.reservation = None
                    return Next.STOP
                return Next.RETRY
            if held.code == "SEAT_UNAVAILABLE":
                continue  # someone was faster: the next free seat
            return await self._after_failure(held)
        return Next.RETRY  # every seat tried was taken: read the map again

    async def _after_failure(self, reply: Reply) -> Next:
        if reply.code == "TOKEN_INVALID":
            return Next.REJOIN
        if reply.code == "TOKEN_NOT_ADMITTED":
            return Next.WAIT
        if reply.transient:
            await self.backoff(reply)
            return Next.RETRY
        return Next.STOP  # e.g. HOLD_LIMIT_REACHED after holds whose answers were lost

    async def pay(self) -> Next:
        assert self.reservation is not None
        if self.trail is None or self.trail.reservation_id != self.reservation:
            key = f"chaos-{self.sale.concert_id}-{self.fan.id}-{self.reservation}"
            self.trail = PaymentTrail(self.fan.id, self.reservation, key)
            self.sale.journal.trails.append(self.trail)
            if self.twin:
                return await self.pay_as_twins()
        reply = await self.call_with_key()
        return await self.after_payment(reply)

    async def pay_as_twins(self) -> Next:
        """The same payment, same key, sent TWINS times at once; each twin retries on its own
        until it gets a definitive answer."""
        assert self.trail is not None
        group = TwinGroup(self.fan.id, self.trail.key)
        self.sale.journal.twins.append(group)
        replies = await asyncio.gather(*(self.call_with_key(endpoint="twin") for _ in range(TWINS)))
        group.answers = [_key_answer(r) for r in replies if not r.transient]
        paid = [r for r in replies if r.status == 201]
        return await self.after_payment(paid[0] if paid else replies[0])

    async def call_with_key(self, endpoint: str = "pay") -> Reply:
        """One payment attempt, retried with the same key while nothing was decided."""
        assert self.trail is not None
        while True:
            reply = await self.call(
                endpoint,
                "POST",
                "/api/v1/payments",
                queue=True,
                key=self.trail.key,
                body={"reservation_id": self.trail.reservation_id},
            )
            if not reply.transient:
                self.trail.answers.append(_key_answer(reply))
                return reply
            if not self.sale.open():
                return reply
            await self.backoff(reply)

    async def after_payment(self, reply: Reply) -> Next:
        if reply.status == 201:
            self.sale.journal.bought += 1
            return Next.STOP
        if reply.code in ("TOKEN_INVALID", "TOKEN_NOT_ADMITTED"):
            return Next.REJOIN if reply.code == "TOKEN_INVALID" else Next.WAIT  # hold and key kept
        if reply.code in ("RESERVATION_EXPIRED", "RESERVATION_NOT_HELD"):
            self.reservation = None  # too late: choose a seat again
            return Next.RETRY
        return Next.STOP  # e.g. INSUFFICIENT_BALANCE, or the phase ended while retrying


def _reply(response: httpx.Response) -> Reply:
    try:
        body = msgspec.json.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        body = None
    code = "OK"
    if response.status_code >= 400:
        code = str(body.get("code")) if isinstance(body, dict) and body.get("code") else f"HTTP_{response.status_code}"
    retry_after = None
    if "retry-after" in response.headers:
        try:
            retry_after = float(response.headers["retry-after"])
        except ValueError:
            retry_after = None
    return Reply(response.status_code, code, body, retry_after)


def _key_answer(reply: Reply) -> KeyAnswer:
    return KeyAnswer(reply.status, reply.code, reply.body if 200 <= reply.status < 300 else None)


def _poll_after(body: dict[str, Any]) -> float:
    """The server's ``poll_after_ms``, bounded so that a wrong value cannot stall the fan."""
    try:
        return min(5.0, max(0.05, float(body.get("poll_after_ms", 500)) / 1000))
    except (TypeError, ValueError):
        return 0.5


def _epoch(iso: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0

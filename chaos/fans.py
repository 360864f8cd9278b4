"""Fans that behave like real clients of a flash sale.

Each fan joins the waiting room (solving the proof-of-work challenge when the join answers 428),
polls its token honouring ``poll_after_ms``, reads the dates and the seat map, holds a free seat
(choosing again when someone was faster; waiting a while when none is free), then pays with an
Idempotency-Key, retrying the same key after a network error, a 5xx or a "key in use" with a
short backoff, and after a 429 when its Retry-After says. One in ten walks away from its hold.
A 401 TOKEN_INVALID sends the fan back to the queue (its hold and its payment key are kept).
Every request has a client timeout; a request that exceeds it is recorded as hung. Some fans
send their payment several times at once with one key (a double-clicking, retrying app): every
twin must get the same answer. Some buyers refund (under the same retry rules) and then click
refund once more; a few buy and refund again until the service's refund cap refuses them.

Every fan comes from an address of its own (X-Forwarded-For, which the harness's balancer
would set), so that the production per-address limits count fans, not the loopback address.
Every fan ends bought, refunded, gave up or refused with the API's code (``journal.EndState``).
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

from chaos.balancer import generated_by_balancer
from chaos.journal import (
    BOUGHT,
    GAVE_UP,
    HUNG,
    NETWORK,
    NO_FREE_SEAT,
    REFUNDED,
    REFUSED,
    WALKED_AWAY,
    Answer,
    Journal,
    KeyAnswer,
    PaymentTrail,
    RefundTrail,
    TwinGroup,
    end_state,
    is_transient,
)
from ticketing.kernel.challenge import CHALLENGE_HEADER, Challenge, solve

CLIENT_TIMEOUT = 10.0
TWINS = 5
MAX_BACKOFF = 1.0
# The sale's announced end: this long after the load's end. A fan told to come back later than
# that (a 429's Retry-After) stops, refused. Fans on their way go on past it while the sale
# moves (``chaos.phase``): the phase, not the fan, closes the sale.
SALE_END_SECONDS = 30.0
SEAT_WAIT = 1.0  # a fan who sees no free seat looks again after this long
REFUND_SHARE = 0.15  # of buyers, who refund
SERIAL_SHARE = 0.3  # of refunders, who buy and refund again until the cap refuses


class Next(Enum):
    REJOIN = "rejoin"  # the queue token is gone: join again
    WAIT = "wait"  # not admitted (any more): poll again
    STOP = "stop"  # done, or nothing left to do
    RETRY = "retry"  # try the step again
    BOUGHT = "bought"  # a payment answered 201


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
    deadline: float  # monotonic, the load's end; moved once the fault's end is known
    patience: float = 30.0  # seconds a fan keeps looking while no seat is free
    abandon_share: float = 0.1
    twin_share: float = 0.1
    refund_share: float = REFUND_SHARE
    serial_share: float = SERIAL_SHARE
    max_refunds: int = 2  # the service's TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE
    closed: bool = False  # the phase is over: fans stop where they are

    def now(self) -> float:
        return time.monotonic() - self.t0

    def open(self) -> bool:
        return not self.closed

    def ends(self) -> float:
        """The sale's announced end (monotonic)."""
        return self.deadline + SALE_END_SECONDS


class Fan:
    def __init__(self, sale: Sale, fan: LoadTestFan, seed: int, address: str) -> None:
        self.sale = sale
        self.fan = fan
        self.address = address
        self.rng = random.Random(seed)
        self.token: str | None = None
        self.poll_after = 0.5
        self.admitted = False
        self.reservation: int | None = None
        self.trail: PaymentTrail | None = None
        self.twin = self.rng.random() < sale.twin_share
        self.failures = 0
        self.refunds_wanted = 0
        if self.rng.random() < sale.refund_share:
            self.refunds_wanted = sale.max_refunds + 1 if self.rng.random() < sale.serial_share else 1
        self.kept: list[int] = []  # ids of the payments the fan keeps
        self.refunded = 0
        self.no_seat_since: float | None = None
        self.solution: str | None = None  # an X-Altcha answer for the next join

    @property
    def ended(self) -> bool:
        return self.fan.id in self.sale.journal.ends

    def going(self) -> bool:
        return self.sale.open() and not self.ended

    def finish(self, kind: str, reason: str = "") -> None:
        """The fan's end (the first one it reaches is the one counted)."""
        if not self.ended:
            self.sale.journal.ends[self.fan.id] = end_state(kind, reason, len(self.kept), self.refunded)

    # --- one request --------------------------------------------------------------------------

    async def call(
        self, endpoint: str, method: str, path: str, *, queue: bool = False, key: str | None = None, body: object = None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self.fan.access_token}", "X-Forwarded-For": self.address}
        if self.solution is not None and endpoint == "join":
            headers[CHALLENGE_HEADER] = self.solution
            self.solution = None  # single use
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
        self.sale.journal.last_answers[self.fan.id] = f"{endpoint} {reply.status} {reply.code}"
        if reply.status in (400, 422):  # a fan sends nothing invalid: what the service objected to
            detail = reply.body.get("detail") if isinstance(reply.body, dict) else None
            self.sale.journal.invalid.append(f"fan {self.fan.id} {method} {path} (key {key}): {reply.code} {detail}")
        return reply

    async def backoff(self, reply: Reply | None = None) -> None:
        """A short, jittered, growing pause; a server's Retry-After wins when it sent one. A fan
        told to come back after the sale has ended does not wait: it is refused, with the code."""
        self.failures += 1
        pause = min(MAX_BACKOFF, 0.1 * 2 ** min(self.failures, 4)) * (0.5 + self.rng.random())
        if reply is not None and reply.retry_after is not None:
            pause = reply.retry_after
            if time.monotonic() + pause > self.sale.ends():
                self.finish(REFUSED, reply.code)
                return
        await asyncio.sleep(pause)

    # --- the journey --------------------------------------------------------------------------

    async def journey(self, arrival: float) -> None:
        await asyncio.sleep(arrival)
        while self.going():
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
            if step is Next.BOUGHT and await self.refund_wanted():
                # Buying again: the queue token finished with the payment, so a new one.
                self.reservation, self.admitted, self.no_seat_since = None, False, None
                continue
            if step is Next.BOUGHT:
                self.finish(BOUGHT)
            return

    async def join(self) -> bool:
        while self.going():
            reply = await self.call("join", "POST", f"/api/v1/concerts/{self.sale.concert_id}/queue/tokens")
            if reply.status in (200, 201) and isinstance(reply.body, dict):
                self.token = str(reply.body["token"])
                self.poll_after = _poll_after(reply.body)
                self.admitted = reply.body.get("status") == "ACTIVE"
                self.failures = 0
                if str(reply.body.get("status")) == "SOLD_OUT":
                    self.finish(REFUSED, "SOLD_OUT")
                    return False
                return True
            if reply.code == "CHALLENGE_REQUIRED" and isinstance(reply.body, dict) and "challenge" in reply.body:
                challenge = msgspec.convert(reply.body["challenge"], Challenge)
                self.solution = await asyncio.to_thread(solve, challenge)  # as the page does, off the loop
                self.sale.journal.challenges_solved += 1
                continue
            if not reply.transient:
                self.finish(REFUSED, reply.code)  # 401 UNAUTHENTICATED or 404: nothing a retry would change
                return False
            await self.backoff(reply)
        return False

    async def wait_admitted(self) -> Next:
        """Poll the token until it is ACTIVE, honouring ``poll_after_ms``."""
        while self.going():
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
                    self.finish(REFUSED, "SOLD_OUT")
                    return Next.STOP
                continue
            if reply.code == "TOKEN_INVALID":
                return Next.REJOIN
            if not reply.transient:
                self.finish(REFUSED, reply.code)
                return Next.STOP
            self.poll_after = 0
            await self.backoff(reply)
        return Next.STOP

    async def buy(self) -> Next:
        while self.going():
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
            return await self.no_free_seat()
        schedule = self.rng.choice(open_dates)
        seats = await self.call("seats", "GET", f"/api/v1/schedules/{schedule['id']}/seats", queue=True)
        if not isinstance(seats.body, list):
            return await self._after_failure(seats)
        free = [int(s["id"]) for s in seats.body if isinstance(s, dict) and s.get("available")]
        if not free:
            return await self.no_free_seat()
        self.no_seat_since = None
        self.rng.shuffle(free)
        return free

    async def no_free_seat(self) -> Next:
        """Sold out, or every seat held: held seats come back when their holds lapse, so the fan
        looks again for a while (``patience``) before it goes home."""
        now = time.monotonic()
        if self.no_seat_since is None:
            self.no_seat_since = now
        if now - self.no_seat_since >= self.sale.patience:
            self.finish(GAVE_UP, NO_FREE_SEAT)
            return Next.STOP
        await asyncio.sleep(SEAT_WAIT * (0.5 + self.rng.random()))
        return Next.RETRY

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
                    self.finish(GAVE_UP, WALKED_AWAY)
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
        self.finish(REFUSED, reply.code)  # e.g. HOLD_LIMIT_REACHED after holds whose answers were lost
        return Next.STOP

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
            if not self.going():
                return reply
            await self.backoff(reply)

    async def after_payment(self, reply: Reply) -> Next:
        if reply.status == 201:
            self.sale.journal.bought += 1
            if isinstance(reply.body, dict) and "id" in reply.body:
                self.kept.append(int(reply.body["id"]))
            return Next.BOUGHT
        if reply.code in ("TOKEN_INVALID", "TOKEN_NOT_ADMITTED"):
            return Next.REJOIN if reply.code == "TOKEN_INVALID" else Next.WAIT  # hold and key kept
        if reply.code in ("RESERVATION_EXPIRED", "RESERVATION_NOT_HELD"):
            self.reservation = None  # too late: choose a seat again
            return Next.RETRY
        if not reply.transient:
            self.finish(REFUSED, reply.code)  # e.g. INSUFFICIENT_BALANCE
        return Next.STOP  # or the phase ended while retrying: no end state

    # --- refunds --------------------------------------------------------------------------------

    async def refund_wanted(self) -> bool:
        """After a purchase: refund it if this fan refunds (True: it buys again). A serial
        refunder goes on until the service's cap refuses a refund; its last seat is kept."""
        if self.refunded >= self.refunds_wanted or not self.kept:
            return False
        payment_id = self.kept[-1]
        reply = await self.refund(payment_id)
        if reply is None:
            return False  # the phase ended while retrying: no end state
        if reply.status == 200:
            self.kept.remove(payment_id)
            self.refunded += 1
            if self.refunded < self.refunds_wanted:
                return True
            self.finish(REFUNDED)
            return False
        self.finish(REFUSED, reply.code)  # REFUND_LIMIT_REACHED: "bought" (the seat is kept), with the code
        return False

    async def refund(self, payment_id: int) -> Reply | None:
        """The refund, retried with its key while nothing was decided; once refunded, the same
        refund once more under a new key (a second click), which must be refused."""
        trail = RefundTrail(self.fan.id, payment_id, f"chaos-refund-{self.sale.concert_id}-{self.fan.id}-{payment_id}")
        self.sale.journal.refunds.append(trail)
        reply = await self._refund_call("refund", trail.key, payment_id)
        if reply is None:
            return None
        trail.answers.append(_key_answer(reply))
        if reply.status == 200:
            again = await self._refund_call("refund again", f"{trail.key}-again", payment_id)
            trail.again = _key_answer(again) if again is not None else None
        return reply

    async def _refund_call(self, endpoint: str, key: str, payment_id: int) -> Reply | None:
        while self.going():
            reply = await self.call(endpoint, "POST", f"/api/v1/payments/{payment_id}/refund", key=key)
            if not reply.transient:
                self.failures = 0
                return reply
            await self.backoff(reply)
        return None


async def finish_fans(tasks: list[asyncio.Task[None]], grace: float, errors: list[str]) -> None:
    """Give the fans' journeys ``grace`` seconds more to end (their requests in flight get
    their answer or time out), then stop those still going; a journey that raised is a harness
    error, added to ``errors``. With ``grace`` 0: stop them all (a run interrupted)."""
    if tasks and grace > 0:
        await asyncio.wait(tasks, timeout=grace)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    errors += [f"fan crashed: {t.exception()!r}" for t in tasks if not t.cancelled() and t.exception() is not None]


def _reply(response: httpx.Response) -> Reply:
    if generated_by_balancer(response):
        # No node answered (the balancer's own 502/503/504): to the fan, the same as a connection
        # that dropped, which is what it saw before a balancer of HTTP stood in front.
        return Reply(NETWORK, f"BALANCER_{response.status_code}")
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

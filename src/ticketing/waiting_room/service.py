"""The waiting room: a fair FIFO queue per concert, admission control, live
position and ETA, and the guards of the seat and payment endpoints.

A serving counter with signed tokens (the design of AWS's Virtual Waiting Room and Queue-it): a
join takes an arrival number in Redis and gets a signed token that carries it; the admitter
advances "admitted up to" over the oldest waiters. The hot reads never go to Redis: a poll and
the guard of the date and seat lists verify the token's signature and compare its number with
the process's view of the queue (``snapshot.py``, at most ``queue_snapshot_seconds`` old). The
write guard (holds, payments) checks the token's record in Redis, so a finished token is refused
there at once.

Fair start (``fair_start.py``): a join passes the concert's sale opening (the earliest
``reservation_opens_at`` of its dates, from the schedules service, cached per process) to the
queue. The fans who join before it form a pre-queue: nobody is admitted before the opening, and
at the opening their order is drawn at random; those who join after it come after all of them,
first come, first served. A concert that is already open (or has no dates) is a plain FIFO queue.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ticketing.config import Settings
from ticketing.kernel.challenge import ChallengeGate, join_action
from ticketing.kernel.coalesce import Coalescer
from ticketing.kernel.deadline import RequestTimedOut, ensure_time_left, unix_ms
from ticketing.kernel.errors import ServiceUnavailable
from ticketing.kernel.jobs import PeriodicJob
from ticketing.kernel.security import Principal
from ticketing.waiting_room.errors import TokenForbidden, TokenInvalid, TokenNotAdmitted
from ticketing.waiting_room.fair_start import new_draw_key
from ticketing.waiting_room.schemas import (
    DrawOut,
    QueueSample,
    QueueStats,
    QueueTokenInfoOut,
    QueueTokenOut,
    TokenUser,
)
from ticketing.waiting_room.snapshot import QueueView, QueueViews, Standing
from ticketing.waiting_room.store import Joined, QueueStore, Solution, SolutionUsedBefore
from ticketing.waiting_room.tokens import QueueToken, QueueTokenCodec

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# A join waiting for its batch: user id, time ms, the sale's opening ms (0: none), the request's
# deadline in Unix ms (0: none), its proof-of-work solution (None: the gate did not ask for one).
_Join = tuple[int, int, int, int, Solution | None]

NEAR_FRONT_POLL_MS = 1000  # the shortest poll interval: the fans about to be admitted
ACTIVE_POLL_MS = 5000  # an admitted fan has moved on to the dates; a poll only refreshes the timer
ETA_WINDOW_MS = 10_000  # the achieved admission rate is measured over this window
JOIN_BATCH = 100  # joins per script call at most (bounds how long one call holds Redis)
# Before the opening a pre-queued fan asks again at least this often (the pre-queue's size, an
# opening moved earlier), and else once, at their own moment of the first seconds after it.
PRE_QUEUE_POLL_MS = 60_000
# The first polls after the opening are spread so that about this many arrive per second: a
# pre-queue of 500 is told within the first second, one of a million over the first 20 s.
PRE_QUEUE_WAKE_PER_SECOND = 50_000


# The end of the user's latest live hold in the concert, if any (user id, concert id): after
# Redis lost a queue, a fan holding a seat was admitted, and the hold proves it. The reservations
# domain's answer, built on this one: its callers pass it to the guards with each call.
HoldLookup = Callable[[int, int], Awaitable[datetime | None]]
# The seats of a concert left for sale now (neither held nor sold, of its dates open for sale),
# counted up to the given bound: the schedules domain's answer, for the admission job.
InventoryLookup = Callable[[int, int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class AdmittedToken:
    token: str
    concert_id: int
    user_id: int
    seq: int
    epoch: str

    def ensure_concert(self, concert_id: int) -> None:
        if concert_id != self.concert_id:
            raise TokenForbidden("This queue token was issued for another concert")


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ms(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1000)


def _spread(seq: int) -> float:
    """A token's own fraction of [0, 1), evenly spread over consecutive arrival numbers (Knuth's
    multiplicative hash): what staggers the polls of fans who joined together."""
    return ((seq * 2654435761) % 1000) / 1000


class WaitingRoomService:
    def __init__(
        self,
        store: QueueStore,
        settings: Settings,
        clock: Clock = time.time,
        *,
        gate: ChallengeGate | None = None,
    ) -> None:
        self.store = store
        self._gate = gate
        self.settings = settings
        self.clock = clock
        self.codec = QueueTokenCodec(settings.jwt_secret)
        self.views = QueueViews(store)
        # The secret of a pre-queue's draw, offered with every join batch and admission tick
        # (replaced by tests that assert an exact order).
        self.new_draw_key: Callable[[], str] = new_draw_key
        # Joins of one concert that arrive while its previous batch is in Redis go together, in
        # arrival order, as one script call (the first join of an idle queue goes at once).
        self._joins: Coalescer[int, _Join, Joined] = Coalescer(self._join_batch, max_batch=JOIN_BATCH)

    async def _join_batch(self, concert_id: int, joins: list[_Join]) -> list[Joined | BaseException]:
        """(user id, time ms, the sale's opening ms or 0, the request's deadline in Unix ms or 0,
        the proof-of-work solution or None) each: the earliest opening any of them knew goes with
        the batch (dates are only added, so an opening only moves earlier). A join whose deadline
        passed while it queued is not sent (and the script refuses one that passes it on the way,
        by Redis' clock); neither uses its solution."""
        now_ms = time.time() * 1000
        live = [i for i, join in enumerate(joins) if not join[3] or join[3] > now_ms]
        if not live:
            return [RequestTimedOut() for _ in joins]
        opens_ms = min((joins[i][2] for i in live if joins[i][2]), default=0)
        sent = [(joins[i][0], joins[i][1], joins[i][3]) for i in live]
        solutions = [joins[i][4] for i in live] if any(joins[i][4] for i in live) else ()
        issued = await self.store.issue(
            concert_id,
            sent,
            secrets.token_hex(4),
            opens_ms=opens_ms,
            draw_key=self.new_draw_key(),
            solutions=solutions,
        )
        if len(live) == len(joins):
            return list(issued)
        outcomes: list[Joined | BaseException] = [RequestTimedOut() for _ in joins]
        for i, outcome in zip(live, issued, strict=True):
            outcomes[i] = outcome
        return outcomes

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def _grace_ms(self) -> int:
        return self.settings.queue_waiting_grace_seconds * 1000

    @property
    def _ttl_ms(self) -> int:
        return self.settings.queue_active_ttl_seconds * 1000

    @property
    def _choice_ms(self) -> int:
        return min(self.settings.queue_choice_seconds, self.settings.queue_active_ttl_seconds) * 1000

    @property
    def _retain_ms(self) -> int:
        return self.settings.queue_retain_finished_seconds * 1000

    def _rate(self, view: QueueView | None, now_ms: int) -> float:
        """Admissions per second actually achieved lately; before any, the configured rate."""
        achieved = view.admitted_since(now_ms - ETA_WINDOW_MS) / (ETA_WINDOW_MS / 1000) if view else 0.0
        return achieved if achieved > 0 else float(self.settings.queue_admit_per_second)

    def poll_after_ms(self, status: str, position: int | None, rate: float, seq: int) -> int:
        """When to ask again. A waiter polls about five times over their expected wait: every
        second near the front, at most every third of the grace period far back (so two lost
        polls in a row still do not get a fan dropped). Spread by ±10 % per token, so fans who
        joined together do not poll in waves. 10^6 waiters at the default 200 admissions/s and
        60 s grace cost about 53,000 polls/s, all answered in-process (see docs/waiting-room.md)."""
        longest = max(NEAR_FRONT_POLL_MS, self._grace_ms // 3)
        if status == "WAITING" and position is not None:
            base = min(max(position / rate * 1000 / 5, NEAR_FRONT_POLL_MS), longest)
        elif status == "ACTIVE":
            base = min(ACTIVE_POLL_MS, longest)
        else:  # finished, expired or sold out: nothing to hurry for
            base = longest
        spread = 0.9 + 0.2 * _spread(seq)
        return max(NEAR_FRONT_POLL_MS // 2, int(base * spread))

    def pre_queue_poll_after_ms(self, seq: int, now_ms: int, opens_ms: int, size: int) -> int:
        """When a fan waiting for the draw asks again: at their own moment (the spread of
        ``_spread``) of the first ``size / PRE_QUEUE_WAKE_PER_SECOND`` seconds after the opening
        (at least one, at most a third of the grace period), so that a million pre-queued fans
        wake up like the far-back waiters of a running queue, about as many per second, a small
        pre-queue learns its draw within a second, and none is dropped for not polling (drops
        wait a full grace period after the opening); and at least every ``PRE_QUEUE_POLL_MS``
        until then. Waking late costs a fan nothing: whoever is admitted has a seat kept for
        them for the whole choice window (``admit``)."""
        longest = max(NEAR_FRONT_POLL_MS, self._grace_ms // 3)
        window = min(longest, max(NEAR_FRONT_POLL_MS, size * 1000 // PRE_QUEUE_WAKE_PER_SECOND))
        wake_at = opens_ms + int(window * _spread(seq))
        spread = 0.9 + 0.2 * _spread(seq)
        return max(NEAR_FRONT_POLL_MS // 2, min(wake_at - now_ms, int(PRE_QUEUE_POLL_MS * spread)))

    def _eta_seconds(self, position: int | None, rate: float, opens_in_ms: int = 0) -> int | None:
        return None if position is None else math.ceil(max(0, opens_in_ms) / 1000 + position / rate)

    def under_pressure(self, concert_id: int) -> bool:
        """Whether joins of the concert need a solved challenge: always when
        ``TICKETING_CHALLENGE_JOIN_WAITING`` is 0, else once that many fans wait in its queue, as
        this process's view of the queue says (no Redis round trip; the view is kept fresh by
        the server job from the first join on)."""
        threshold = self.settings.challenge_join_waiting
        if threshold == 0:
            return True
        view = self.views.cached(concert_id)
        return view is not None and view.waiting >= threshold

    async def join(
        self, principal: Principal, concert_id: int, *, sale_opens_at: datetime | None, solution: str | None
    ) -> tuple[QueueTokenOut, bool]:
        """Queue-token issue over HTTP: behind the proof-of-work gate while the concert's queue is
        under pressure (``solution``: the X-Altcha header). The gate checks the solution here and
        the join script marks it used, in the batch's one Redis call (no command of its own per
        join): a solution that bought a join before is refused, and nothing is joined. Redis
        unavailable: the join is a 503 and the solution stays unused (the queue lives in Redis;
        the gate's in-process fallback is for the endpoints that work without it)."""
        if self._gate is None or not self._gate.enabled or not self.under_pressure(concert_id):
            return await self.issue_token(principal, concert_id, sale_opens_at=sale_opens_at)
        action = join_action(concert_id)
        signature, expires = self._gate.valid(action, solution)
        try:
            return await self.issue_token(
                principal, concert_id, sale_opens_at=sale_opens_at, solution=(signature, self._gate.mark_ms(expires))
            )
        except SolutionUsedBefore:
            raise self._gate.used_before(action) from None

    async def issue_token(
        self,
        principal: Principal,
        concert_id: int,
        *,
        sale_opens_at: datetime | None,
        solution: Solution | None = None,
    ) -> tuple[QueueTokenOut, bool]:
        """A token for the concert's queue. ``sale_opens_at``: when the sale opens (the earliest
        opening of its dates, None without dates), from the caller, who checked that the concert
        exists: the schedules domain knows it, and it is built on this one. ``solution``: a
        checked proof-of-work solution to mark used with the join (``SolutionUsedBefore`` if it
        was)."""
        opens_ms = _ms(sale_opens_at)
        ensure_time_left()
        now = self._now_ms()
        joined = await self._joins.submit(concert_id, (principal.user_id, now, opens_ms, unix_ms(), solution))
        token = self.codec.encode(
            concert_id, joined.epoch, joined.seq, principal.user_id, joined.issued_at_ms // 1000, principal.name
        )
        rate = self._rate(self.views.cached(concert_id), now)
        if joined.pre_queue:
            opens_in = joined.sale_opens_ms - now
            expires_ms = max(now, joined.sale_opens_ms) + self._grace_ms
            poll_after = self.pre_queue_poll_after_ms(
                joined.seq, now, joined.sale_opens_ms, joined.position or joined.seq
            )
        else:
            opens_in = 0
            expires_ms = joined.deadline_ms if joined.status == "ACTIVE" else now + self._grace_ms
            poll_after = self.poll_after_ms(joined.status, joined.position, rate, joined.seq)
        out = QueueTokenOut(
            token=token,
            concert_id=concert_id,
            user_id=principal.user_id,
            status=joined.status,  # type: ignore[arg-type]
            position=joined.position,
            eta_seconds=self._eta_seconds(joined.position, rate, opens_in),
            expires_at=_at(expires_ms),
            poll_after_ms=poll_after,
            sale_opens_at=_at(joined.sale_opens_ms) if joined.sale_opens_ms else None,
            pre_queue=joined.pre_queue,
            arrival_number=joined.seq,
        )
        return out, joined.created

    async def _view(self, token: QueueToken) -> QueueView:
        return await self.views.get(token.concert_id, self.settings.queue_snapshot_seconds)

    def _standing(self, view: QueueView, token: QueueToken, now_ms: int) -> Standing:
        standing = None
        if view.epoch == token.epoch:  # another epoch: a queue Redis lost, the numbers mean nothing now
            standing = view.standing(token.seq, now_ms, self._ttl_ms, self._retain_ms, self._choice_ms)
        if standing is None:
            raise TokenInvalid("Unknown or no longer retained queue token")
        return standing

    async def token_info(self, raw: str | None) -> QueueTokenInfoOut:
        """The poll: answered from this process's view of the queue, no Redis round trip (the
        waiter's heartbeat goes to Redis with the view's next sync)."""
        token = self._decode(raw)
        now = self._now_ms()
        view = await self._view(token)
        standing = self._standing(view, token, now)
        if standing.status in ("WAITING", "SOLD_OUT"):  # written with the view's next sync
            self.views.heartbeat(token.concert_id, token.seq, now)
        rate = self._rate(view, now)
        position = standing.position if standing.status == "WAITING" else None
        opens_ms = view.opens_ms
        opens_in = opens_ms - now if opens_ms is not None and standing.pre_queue else 0
        if standing.status == "WAITING":
            # A waiter who stops polling is dropped a grace period after their last poll, and
            # not before a grace period after the opening for the pre-queue.
            deadline = now + max(0, opens_in) + self._grace_ms
            remaining = (deadline - now) // 1000
        elif standing.status == "ACTIVE" and standing.deadline_ms is not None:
            deadline, remaining = standing.deadline_ms, max(0, (standing.deadline_ms - now) // 1000)
        else:
            deadline, remaining = standing.deadline_ms or now, 0
        if standing.pre_queue and opens_ms is not None and standing.status == "WAITING":
            poll_after = self.pre_queue_poll_after_ms(token.seq, now, opens_ms, position or token.seq)
        else:
            poll_after = self.poll_after_ms(standing.status, position, rate, token.seq)
        return QueueTokenInfoOut(
            token=token.raw,
            concert_id=token.concert_id,
            user=TokenUser(id=token.user_id, name=token.name),
            status=standing.status,  # type: ignore[arg-type]
            position=position,
            eta_seconds=self._eta_seconds(position, rate, opens_in),
            expires_at=_at(deadline),
            remaining_seconds=remaining,
            poll_after_ms=poll_after,
            sale_opens_at=_at(opens_ms) if opens_ms is not None else None,
            pre_queue=standing.pre_queue,
            arrival_number=token.seq,
            paused=view.paused,
        )

    def _decode(self, raw: str | None) -> QueueToken:
        if not raw:
            raise TokenInvalid("The X-Queue-Token header is required")
        token = self.codec.decode(raw)
        if token is None:
            raise TokenInvalid("Unknown or expired queue token")
        return token

    def _decode_for(self, raw: str | None, user_id: int) -> QueueToken:
        token = self._decode(raw)
        if token.user_id != user_id:
            raise TokenForbidden("This queue token belongs to another user")
        return token

    async def require_pass(self, raw: str | None, user_id: int, *, holds: HoldLookup | None = None) -> AdmittedToken:
        """The guard of the date and seat lists: signature and this process's view of the
        queue, no Redis round trip. A finished token is refused within the view's age.

        A view is up to ``queue_snapshot_seconds`` behind Redis, and each process has its own:
        a fan shown ACTIVE by one node (its poll) could be told "not yet admitted" by another a
        moment later. So before that refusal, and only then, the token's record in Redis is
        asked (one round trip on the refusal path; the admitted fans' reads stay in-process).
        ``holds``: the proof of admission for a token of a lost queue (``_orphan``)."""
        token = self._decode_for(raw, user_id)
        view = await self._view(token)
        if view.epoch != token.epoch:
            return await self._orphan(token, holds)
        standing = self._standing(view, token, self._now_ms())
        if standing.status in ("WAITING", "SOLD_OUT"):
            if await self._admitted_in_redis(token):
                return self._admitted(token)
            raise TokenNotAdmitted()
        if standing.status != "ACTIVE" or standing.deadline_ms is None:
            raise TokenInvalid("This queue token has expired or is finished")
        return self._admitted(token)

    async def require_admitted(
        self, raw: str | None, user_id: int, *, holds: HoldLookup | None = None
    ) -> AdmittedToken:
        """The guard of holds and payments: the token's record in Redis (one round trip), so a
        paid or expired token is refused at once. ``holds`` as for ``require_pass``."""
        token = self._decode_for(raw, user_id)
        record = await self.store.peek(token.concert_id, token.seq, token.epoch)
        if record.epoch != token.epoch:
            if record.orphan_finished:
                raise TokenInvalid("This queue token is finished")
            return await self._orphan(token, holds)
        if not record.status or record.user_id != token.user_id:
            raise TokenInvalid("Unknown or expired queue token")
        if record.status == "W":
            raise TokenNotAdmitted()
        if record.status == "E":
            # Ended (the choice window, or the admission's life): a fan who holds a seat of the
            # concert was admitted and chose in time, and may go on to pay (the hold proves it).
            return await self._holding(token, holds, "This queue token has expired")
        if record.status != "A" or record.deadline_ms <= self._now_ms():
            raise TokenInvalid("This queue token has expired or is finished")
        return self._admitted(token)

    async def _admitted_in_redis(self, token: QueueToken) -> bool:
        """Whether Redis has the token admitted and live (this process's view being behind).
        Redis unavailable: the view's answer stands (the fan polls and asks again)."""
        try:
            record = await self.store.peek(token.concert_id, token.seq, token.epoch)
        except ServiceUnavailable:
            return False
        return (
            record.epoch == token.epoch
            and record.status == "A"
            and record.user_id == token.user_id
            and record.deadline_ms > self._now_ms()
        )

    async def _orphan(self, token: QueueToken, holds: HoldLookup | None) -> AdmittedToken:
        """A token of a queue Redis no longer has (lost with its data, or never restored): its
        number means nothing in the current queue. It still proves who it was issued to and for
        which concert, and a live hold of that fan in that concert proves they were admitted:
        such a fan can go on (read, hold, pay) until the payment finishes the token or the hold
        ends. Anyone else queues again."""
        refusal = "Unknown or expired queue token (the queue was reset: join it again)"
        return await self._holding(token, holds, refusal)

    async def _holding(self, token: QueueToken, holds: HoldLookup | None, refusal: str) -> AdmittedToken:
        """Admitted if the token's fan holds a live seat of its concert, else ``refusal``."""
        hold_until = await holds(token.user_id, token.concert_id) if holds is not None else None
        if hold_until is None:
            raise TokenInvalid(refusal)
        return self._admitted(token)

    async def chose(self, admitted: AdmittedToken) -> None:
        """The fan held a seat: their place lasts the admission's life instead of the choice
        window, and stops counting against the seats left. Called after the hold committed; if
        Redis fails now, the window still ends, and the hold itself keeps the fan going (the
        write guard honours an ended token whose fan holds a seat)."""
        try:
            await self.store.chose(admitted.concert_id, admitted.seq, admitted.epoch)
        except ServiceUnavailable:
            log.warning("queue place not marked chosen: Redis unavailable", extra={"concert": admitted.concert_id})

    @staticmethod
    def _admitted(token: QueueToken) -> AdmittedToken:
        return AdmittedToken(token.raw, token.concert_id, token.user_id, token.seq, token.epoch)

    async def finish(self, admitted: AdmittedToken) -> None:
        await self.store.finish(admitted.concert_id, admitted.seq, admitted.epoch, self._retain_ms)

    async def mark_sold_out(self, concert_id: int) -> None:
        await self.store.set_sold_out(concert_id, True)

    async def clear_sold_out(self, concert_id: int) -> None:
        await self.store.set_sold_out(concert_id, False)

    async def set_paused(self, concert_id: int, paused: bool) -> QueueStats:
        """Pause (or resume) admission from the concert's queue (docs/operating.md): no fan is
        admitted while paused; joins go on (in line, as before), and fans already admitted keep
        their window to hold and pay. The caller has checked that the concert exists."""
        await self.store.set_paused(concert_id, paused)
        return await self.stats(concert_id)

    async def admit(
        self, concert_id: int | None = None, *, batch: int = 10_000, inventory: InventoryLookup | None = None
    ) -> int:
        """One admission tick for one concert, or for every concert with a queue. With
        ``inventory`` (and ``queue_admit_by_inventory``), the admitted fans who have not chosen
        yet never outnumber the seats left for sale: each has a seat to choose for their whole
        choice window, so the draw decides who buys, not how fast a client polls or clicks."""
        concerts = [concert_id] if concert_id is not None else await self.store.concerts()
        admitted = 0
        for cid in concerts:
            stock, choices = None, 0
            if inventory is not None and self.settings.queue_admit_by_inventory:
                choices = await self.store.choices(cid)  # first: see the store's ``choices``
                stock = await inventory(cid, self.settings.queue_max_active)
            tick = await self.store.admit(
                cid,
                self._now_ms(),
                max_active=self.settings.queue_max_active,
                rate=self.settings.queue_admit_per_second,
                ttl_ms=self._ttl_ms,
                grace_ms=self._grace_ms,
                retain_ms=self._retain_ms,
                batch=batch,
                draw_key=self.new_draw_key(),
                choice_ms=self._choice_ms,
                inventory=stock,
                choices_before=choices,
            )
            admitted += tick.admitted
        return admitted

    async def draw(self, concert_id: int) -> DrawOut:
        """The public record of a concert's fair start (docs/fair-draw.md): the commitment to
        the draw's key from the moment the pre-queue began, the key and the pre-queue's size
        once drawn. A concert whose queue has no pre-queue answers ``status: NONE``. The caller
        checks that the concert exists."""
        record = await self.store.draw_record(concert_id)
        if record.opens_ms is None:
            status = "NONE"
        elif record.key is None:
            status = "COMMITTED"
        else:
            status = "DRAWN"
        return DrawOut(
            concert_id=concert_id,
            status=status,  # type: ignore[arg-type]
            sale_opens_at=_at(record.opens_ms) if record.opens_ms is not None else None,
            commitment=record.commitment,
            key=record.key,
            pre_queue_size=record.size,
        )

    async def sample(self, concert_id: int) -> None:
        """Keep the queue's figures now for the operator's chart (the admitter calls this)."""
        now = self._now_ms()
        waiting, active, _, recent, _, _ = await self.store.stats(concert_id, now)
        await self.store.add_sample(concert_id, now, waiting, active, recent)

    async def history(self, concert_id: int) -> list[QueueSample]:
        """The queue's kept samples, oldest first (the last two hours, one every 5 s)."""
        return [
            QueueSample(at=_at(at), waiting=waiting, active=active, admission_rate_per_second=recent / 10)
            for at, waiting, active, recent in await self.store.samples(concert_id)
        ]

    async def stats(self, concert_id: int) -> QueueStats:
        waiting, active, minute, recent, sold_out, paused = await self.store.stats(concert_id, self._now_ms())
        return QueueStats(
            concert_id=concert_id,
            waiting=waiting,
            active=active,
            admitted_last_minute=minute,
            admission_rate_per_second=recent / 10,
            sold_out=sold_out,
            paused=paused,
        )

    def sync_job(self) -> PeriodicJob:
        """Keeps this process's queue views fresh; runs in every server process (not a
        background job of ``ticketing worker``: the views are the server's own)."""
        max_age = self.settings.queue_snapshot_seconds
        return PeriodicJob("queue-views", max(0.05, max_age / 2), lambda: self.views.sync_in_use(max_age))

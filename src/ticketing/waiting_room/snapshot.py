"""Each server process's copy of the queues' counters: what lets a poll, and the guard of the
date and seat lists, answer without a Redis round trip.

A ``QueueView`` holds, per concert, the serving counter (``upto``), the admission steps of the
last active-TTL + retention (so a token's admission time, hence its deadline), the waiters who
left before their turn, the tokens finished by a payment and the sold-out flag. It is built once
from the whole state in Redis and then kept current from the concert's change stream
(``store.py``): a sync is one script call that also writes this process's batch of waiter
heartbeats. ``QueueViews`` syncs a view when it is older than ``max_age`` (one caller at a time;
the others wait for that sync rather than sending their own), and a background job keeps the
views of concerts in use younger than that, so requests rarely wait at all.

A queue with a fair start (``fair_start.py``) is seen the same way in rank space: the view holds
the opening, the pre-queue's size and key once drawn, and ranks a token's arrival number itself.
Before the draw every waiter is in the pre-queue, whose size is the arrivals so far (each sync
reads it).

Answers are at most ``max_age`` behind Redis (0.1 s by default): docs/api.md allows a finished token
to be refused by the reads within 1 s. When Redis cannot be reached, a view up to
``STALE_LIMIT_SECONDS`` old is still used; older than that, the reads answer 503.
"""

from __future__ import annotations

import contextlib
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field

from ticketing.kernel.errors import ServiceUnavailable
from ticketing.kernel.singleflight import SingleFlight
from ticketing.waiting_room.fair_start import Draw, FairStart
from ticketing.waiting_room.store import Event, FullState, QueueStore

STALE_LIMIT_SECONDS = 1.0
# A view not synced for this long may have missed trimmed stream entries: read the whole state.
RESYNC_AFTER_SECONDS = 10.0
# Views of concerts nobody asked about for this long stop being synced (and are dropped).
IDLE_SECONDS = 30.0
# A sync that returned this many entries reads on at once: there may be more.
SYNC_BATCH = 5000
# The stream's on/off entries ("v": "1" or "0") and the view's field each sets.
FLAG_ENTRIES = {"s": "sold_out", "p": "paused"}


@dataclass(frozen=True, slots=True)
class Standing:
    """One token's standing in its queue, as far as this process knows."""

    status: str  # WAITING, ACTIVE, DONE, EXPIRED, SOLD_OUT
    position: int | None  # before a pre-queue's draw: its size (the worst place it can draw)
    deadline_ms: int | None
    pre_queue: bool = False  # waiting for the draw at the opening


@dataclass
class QueueView:
    epoch: str
    sold_out: bool
    upto: int
    floor: int
    log_index: int
    last_id: str
    synced_at: float  # monotonic
    # Ranks (the arrival number, but in a drawn pre-queue): upto, floor, the steps' uptos.
    step_times: list[int] = field(default_factory=list)
    step_uptos: list[int] = field(default_factory=list)
    step_totals: list[int] = field(default_factory=list)
    gone: dict[int, int] = field(default_factory=dict)  # seq -> rank
    gone_waiting: list[int] = field(default_factory=list)  # sorted gone ranks above upto (positions)
    done: dict[int, int] = field(default_factory=dict)  # seq -> rank
    chosen: dict[int, int] = field(default_factory=dict)  # seq -> rank: admitted fans who held a seat
    start: FairStart | None = None  # None: a plain FIFO queue
    arrivals: int = 0  # the arrivals so far (before a pre-queue's draw: its size)
    paused: bool = False  # the operator paused admission: the waiters are told, places kept

    @classmethod
    def of(cls, state: FullState, now: float) -> QueueView:
        view = cls(
            epoch=state.epoch,
            sold_out=state.sold_out,
            upto=state.upto,
            floor=state.floor,
            log_index=state.log_index,
            last_id=state.last_id,
            synced_at=now,
            gone=dict(state.gone),
            done=dict(state.done),
            start=state.start,
            arrivals=state.arrivals,
            paused=state.paused,
        )
        view.chosen = {seq: view.rank(seq) for seq in state.chosen}
        for at, upto, total in state.steps:
            view._add_step(at, upto, total)
        view.gone_waiting = sorted(r for r in view.gone.values() if r > view.upto)
        return view

    @property
    def waiting(self) -> int:
        """How many fans wait, as far as this view knows (the last arrival's position)."""
        return max(0, self.arrivals - self.upto - len(self.gone_waiting))

    @property
    def opens_ms(self) -> int | None:
        """The sale's opening, for a queue with a fair start."""
        return self.start.opens_ms if self.start else None

    def rank(self, seq: int) -> int:
        draw = self.start.draw if self.start else None
        return draw.rank(seq) if draw else seq

    def _add_step(self, at: int, upto: int, total: int) -> None:
        self.step_times.append(at)
        self.step_uptos.append(upto)
        self.step_totals.append(total)

    def apply(self, events: list[Event]) -> bool:
        """Apply stream entries in order; False when one is missing (the caller re-reads all)."""
        for entry_id, fields in events:
            index = int(fields.get("i", "0"))
            if index != self.log_index + 1:
                return False
            self.log_index = index
            self.last_id = entry_id
            kind = fields.get("k")
            if kind == "a":
                self._add_step(int(fields["t"]), int(fields["u"]), int(fields["n"]))
                self.upto = int(fields["u"])
                del self.gone_waiting[: bisect_right(self.gone_waiting, self.upto)]
            elif kind == "g":
                for seq in map(int, fields["s"].split(",")):
                    rank = self.gone[seq] = self.rank(seq)
                    if rank > self.upto:
                        insort(self.gone_waiting, rank)
            elif kind == "d":
                seq = int(fields["s"])
                self.done[seq] = self.rank(seq)
            elif kind == "c":
                seq = int(fields["s"])
                self.chosen[seq] = self.rank(seq)
            elif kind in FLAG_ENTRIES:
                setattr(self, FLAG_ENTRIES[kind], fields["v"] == "1")
            elif kind == "f":
                self._forget_up_to(int(fields["u"]))
            elif kind == "q":
                self.start = FairStart(int(fields["o"]))
            elif kind == "o":
                self.start = FairStart(int(fields["o"]), Draw(int(fields["p"]), fields["x"]))
        return True

    def _forget_up_to(self, floor: int) -> None:
        self.floor = floor
        cut = bisect_right(self.step_uptos, floor)
        del self.step_times[:cut], self.step_uptos[:cut], self.step_totals[:cut]
        self.gone = {s: r for s, r in self.gone.items() if r > floor}
        self.done = {s: r for s, r in self.done.items() if r > floor}
        self.chosen = {s: r for s, r in self.chosen.items() if r > floor}

    def admitted_since(self, since_ms: int) -> int:
        """How many were admitted after ``since_ms`` (the achieved rate, for ETAs)."""
        if not self.step_totals:
            return 0
        before = bisect_right(self.step_times, since_ms) - 1
        # No step before the window: every retained step is in it (all of them, if none was
        # forgotten; else the oldest one's own admissions are left out, a small undercount).
        base = self.step_totals[before] if before >= 0 else (0 if self.floor == 0 else self.step_totals[0])
        return self.step_totals[-1] - base

    def standing(  # noqa: PLR0911 - one return per status reads best
        self, seq: int, now_ms: int, ttl_ms: int, retain_ms: int, choice_ms: int | None = None
    ) -> Standing | None:
        """None: this queue does not know the token (any more). An admitted fan who has held
        no seat yet is ACTIVE until the end of their choice window (``choice_ms`` after the
        admission; default the whole ``ttl_ms``), one who held until the admission's end."""
        waiting = "SOLD_OUT" if self.sold_out else "WAITING"
        if self.start is not None and self.start.draw is None:  # everyone is in the pre-queue
            return Standing(waiting, max(self.arrivals, seq), None, pre_queue=True)
        rank = self.rank(seq)
        if rank <= self.floor:
            return None
        if rank > self.upto:
            if seq in self.gone:
                return Standing("EXPIRED", None, None)
            left = bisect_left(self.gone_waiting, rank)  # waiters ahead who left
            return Standing(waiting, rank - self.upto - left, None)
        if seq in self.gone:
            return Standing("EXPIRED", None, None)
        step = bisect_left(self.step_uptos, rank)
        if step == len(self.step_uptos):  # cannot happen while upto is the last step's upto
            return None
        admitted_at = self.step_times[step]
        deadline = admitted_at + ttl_ms
        if seq in self.done:
            return Standing("DONE", None, deadline)
        if choice_ms is not None and seq not in self.chosen:
            deadline = admitted_at + min(choice_ms, ttl_ms)
        if deadline > now_ms:
            return Standing("ACTIVE", None, deadline)
        if deadline + retain_ms > now_ms:
            return Standing("EXPIRED", None, deadline)
        return None


class QueueViews:
    """The process's views, one per concert, and the waiter heartbeats waiting to be written."""

    def __init__(self, store: QueueStore, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._monotonic = monotonic
        self._views: dict[int, QueueView] = {}
        self._syncs: SingleFlight[int, QueueView] = SingleFlight()
        self._used: dict[int, float] = {}
        self._heartbeats: dict[int, dict[int, int]] = {}

    def cached(self, concert_id: int) -> QueueView | None:
        """The view as it is, without a sync (the background job will keep it fresh from now)."""
        self._used[concert_id] = self._monotonic()
        return self._views.get(concert_id)

    async def get(self, concert_id: int, max_age: float) -> QueueView:
        """The concert's view, synced first if it is older than ``max_age`` seconds."""
        now = self._monotonic()
        self._used[concert_id] = now
        view = self._views.get(concert_id)
        if view is not None and now - view.synced_at <= max_age:
            return view
        try:
            return await self.sync(concert_id)
        except ServiceUnavailable:
            if view is not None and now - view.synced_at <= STALE_LIMIT_SECONDS:
                return view
            raise

    def heartbeat(self, concert_id: int, seq: int, at_ms: int) -> None:
        """A waiter polled: written to Redis with this concert's next sync."""
        self._heartbeats.setdefault(concert_id, {})[seq] = at_ms

    async def sync(self, concert_id: int) -> QueueView:
        """Bring the concert's view up to date; concurrent callers share one sync."""
        return await self._syncs.run(concert_id, lambda: self._sync(concert_id))

    async def _sync(self, concert_id: int) -> QueueView:
        view = self._views.get(concert_id)
        beats = self._heartbeats.pop(concert_id, {})
        try:
            while True:
                started = self._monotonic()
                if view is None or started - view.synced_at > RESYNC_AFTER_SECONDS:
                    state = await self.store.full_state(concert_id, beats)
                    beats = {}
                    view = QueueView.of(state, started)
                    self._views[concert_id] = view
                    return view
                epoch, arrivals, events = await self.store.changes(concert_id, view.last_id, beats, count=SYNC_BATCH)
                beats = {}
                if epoch != view.epoch or not view.apply(events):
                    view = None  # Redis lost or trimmed what this view was built on: read it all
                    continue
                view.arrivals = arrivals
                view.synced_at = started
                if len(events) < SYNC_BATCH:
                    return view
        except BaseException:
            if beats:  # not written: keep them for the next sync
                self._heartbeats.setdefault(concert_id, {}).update(beats)
            raise

    async def sync_in_use(self, max_age: float) -> None:
        """The background job: sync every concert asked about lately, forget the others."""
        now = self._monotonic()
        for concert_id, used in list(self._used.items()):
            if now - used > IDLE_SECONDS:
                del self._used[concert_id]
                self._views.pop(concert_id, None)
                continue
            view = self._views.get(concert_id)
            if view is None or now - view.synced_at >= max_age / 2 or concert_id in self._heartbeats:
                # On failure the reads answer from the last view for a moment, then 503.
                with contextlib.suppress(ServiceUnavailable):
                    await self.sync(concert_id)

"""The seat map's answers of a process: a date's summary and every zone's seats, each encoded
once with its ETag, kept within the seat list's staleness bound.

Fast and flat under load:
- **Stale while revalidate.** An answer is served while it is younger than the bound; from
  half the bound on, the first request to see it starts one refresh in the background
  (single-flight) and does not wait for it. Under steady reading no request waits for a
  refresh; only a date nobody read for a whole bound (or one this process just wrote to) is
  read while a request waits.
- **Only what changed, only what is asked for.** A refresh is one aggregate over the date's
  seats — the summary's counts, and per zone a fingerprint of its free seats (how many, and an
  XOR of a hash of their ids) — then, in one statement, the seats of the zones kept whose
  fingerprint moved and that were asked for since the last refresh (a kept zone nobody asked for
  is dropped when it moves). A zone is read the first time it is asked for (the zones asked for
  at the same moment in one statement): a cold summary reads no zone, and a stadium's hold
  re-reads one zone of 1,000 seats, not 60,000 rows.
- **Read your own writes.** A hold, payment, release or expiry in this process bumps the
  date's write mark; an answer read before the mark is not served, and a request waits for a
  read that began after it.

Nothing here decides a hold or a payment: those always read the database under their locks.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import structlog

from ticketing.kernel.coalesce import Coalescer
from ticketing.kernel.singleflight import SingleFlight
from ticketing.kernel.uow import UnitOfWorkFactory
from ticketing.schedules.repository import ScheduleRepository
from ticketing.schedules.schemas import ClassAvailability, SeatMapOut, ZoneMapOut, ZoneSeatsOut
from ticketing.venues.schemas import ZoneInfo
from ticketing.venues.service import etag_of

log = structlog.get_logger(__name__)

# From this share of the bound on, an answer is still served but the next refresh starts.
REFRESH_AHEAD = 0.5


@dataclass(frozen=True, slots=True)
class Tagged:
    """An encoded answer, when its read began, and its ETag."""

    read_at: float
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class ZoneAnswer:
    """A zone's answer, the fingerprint of the rows it was built from, and this process's write
    mark of the date when their read began."""

    answer: Tagged
    fingerprint: tuple[int, int]
    write_mark: int


@dataclass(slots=True)
class DateView:
    """What this process shows of one date: the summary and each zone's fingerprint from one
    aggregate, and the answers of the zones asked for (built on first request)."""

    read_at: float
    write_mark: int
    summary: Tagged
    fingerprints: dict[int, tuple[int, int]]
    zones: dict[int, ZoneAnswer] = field(default_factory=dict)
    # The zones answered from this view: those a refresh reads again when they moved (the others
    # are dropped, and read again when next asked for).
    asked: set[int] = field(default_factory=set)

    def size_bytes(self) -> int:
        tagged = [self.summary, *(zone.answer for zone in self.zones.values())]
        return sum(sys.getsizeof(t.body) + sys.getsizeof(t.etag) + sys.getsizeof(t) + 100 for t in tagged) + (
            sys.getsizeof(self.zones) + sys.getsizeof(self.fingerprints) + 100 * len(self.fingerprints)
        )


@dataclass(frozen=True, slots=True)
class DateShape:
    """What never changes of a date once created: its venue, zones and classes."""

    schedule_id: int
    venue_id: int | None
    zones: Sequence[ZoneInfo]
    classes: Sequence[ClassAvailability]  # name, price and colour (their ``available`` unused)
    zone_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone_ids", frozenset(zone.id for zone in self.zones))


class SeatMaps:
    def __init__(self, uow_factory: UnitOfWorkFactory, cache_seconds: float) -> None:
        self._uow_factory = uow_factory
        self.cache_seconds = cache_seconds
        self._views: dict[int, DateView] = {}
        self._write_marks: dict[int, int] = {}
        self._reads: SingleFlight[int, DateView] = SingleFlight()
        # Zones asked for at the same moment (a cold process under load is asked for all of a
        # date's zones within milliseconds) are read together, in one statement per batch.
        self._zone_reads: Coalescer[int, tuple[int, int], ZoneAnswer] = Coalescer(self._read_zones)
        self._background: set[asyncio.Task[DateView]] = set()

    async def view(self, shape: DateShape) -> DateView:
        """The date's summary, no older than ``cache_seconds`` nor than this process's last write."""
        schedule_id = shape.schedule_id
        view = self._views.get(schedule_id)
        if view is not None and view.write_mark == self._write_marks.get(schedule_id, 0):
            age = time.monotonic() - view.read_at
            if age < self.cache_seconds:
                if age >= self.cache_seconds * REFRESH_AHEAD and not self._reads.busy(schedule_id):
                    self._refresh_in_background(shape)
                return view
        while True:
            # A read already running may have begun before this process's last write: then
            # another, so that a fan who just held a seat sees it taken.
            mark = self._write_marks.get(schedule_id, 0)
            view = await self._reads.run(schedule_id, lambda: self._refresh(shape))
            if view.write_mark >= mark:
                return view

    async def zone(self, shape: DateShape, zone_id: int) -> Tagged:
        """One zone's answer (``zone_id`` one of ``shape.zone_ids``), as fresh as ``view``'s: kept
        by the view, or read now the first time it is asked for (with the zones asked for at the
        same moment, ``_read_zones``)."""
        view = await self.view(shape)
        view.asked.add(zone_id)
        kept = view.zones.get(zone_id)
        if kept is not None:
            return kept.answer
        return (await self._zone_reads.submit(shape.schedule_id, (zone_id, view.write_mark))).answer

    def written(self, schedule_id: int) -> None:
        """A hold, payment, release or expiry of the date in this process (after its commit)."""
        self._write_marks[schedule_id] = self._write_marks.get(schedule_id, 0) + 1

    def size_bytes(self, schedule_id: int) -> int:
        view = self._views.get(schedule_id)
        return view.size_bytes() if view is not None else 0

    def _refresh_in_background(self, shape: DateShape) -> None:
        task = asyncio.create_task(self._reads.run(shape.schedule_id, lambda: self._refresh(shape)))
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[DateView]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The answers kept stay served until the bound; the next request reads again.
            log.warning("seat_map_refresh_failed", error=repr(task.exception()))

    async def _refresh(self, shape: DateShape) -> DateView:
        """One aggregate (the summary and every zone's fingerprint), then the zones kept and asked
        for since the last refresh whose fingerprint moved, in one statement."""
        schedule_id = shape.schedule_id
        started, mark = time.monotonic(), self._write_marks.get(schedule_id, 0)
        previous = self._views.get(schedule_id)
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(ScheduleRepository)
            fingerprints: dict[int, tuple[int, int]] = {}
            by_zone: dict[int, dict[str, int]] = {}
            for zone_id, class_name, available, free_hash in await repo.availability(schedule_id):
                free, hashed = fingerprints.get(zone_id, (0, 0))
                fingerprints[zone_id] = (free + available, hashed ^ free_hash)
                by_zone.setdefault(zone_id, {})[class_name] = available
            moved = []
            if previous is not None:
                moved = [
                    zone_id
                    for zone_id, kept in previous.zones.items()
                    if zone_id in previous.asked and kept.fingerprint != fingerprints.get(zone_id, (0, 0))
                ]
            reread = await _zone_answers(repo, schedule_id, moved, started, mark) if moved else {}
        # A zone is kept while its fingerprint is the aggregate's; one that moved again between
        # the two statements keeps the fingerprint of the rows it was built from, and is read
        # again next time, never kept as it is.
        zones = {}
        if previous is not None:
            zones = {z: kept for z, kept in previous.zones.items() if kept.fingerprint == fingerprints.get(z, (0, 0))}
        zones.update(reread)
        if previous is not None and previous.fingerprints == fingerprints:
            summary = previous.summary  # no zone's free seats moved: the same bytes and ETag
        else:
            summary = _tagged(started, _summary(shape, by_zone))
        view = DateView(started, mark, summary, fingerprints, zones)
        if self.cache_seconds:
            self._views[schedule_id] = view
        return view

    async def _read_zones(self, schedule_id: int, wanted: list[tuple[int, int]]) -> list[ZoneAnswer | BaseException]:
        """Each (zone, write mark) its answer, from no earlier than that write mark: kept by the
        date's view (a batch before this one read it), else read now, the batch's zones in one
        statement, and kept by the view when the read is no older than it."""

        def kept(zone_id: int, write_mark: int) -> ZoneAnswer | None:
            view = self._views.get(schedule_id)
            zone = view.zones.get(zone_id) if view is not None else None
            return zone if zone is not None and zone.write_mark >= write_mark else None

        found = {item: zone for item in set(wanted) if (zone := kept(*item)) is not None}
        missing = sorted({zone_id for zone_id, write_mark in wanted if (zone_id, write_mark) not in found})
        fresh: dict[int, ZoneAnswer] = {}
        if missing:
            started, mark = time.monotonic(), self._write_marks.get(schedule_id, 0)
            async with self._uow_factory(autocommit=True) as uow:
                fresh = await _zone_answers(uow.repo(ScheduleRepository), schedule_id, missing, started, mark)
            view = self._views.get(schedule_id)
            if view is not None and view.read_at <= started and view.write_mark <= mark:
                view.zones.update(fresh)
        return [found.get(item) or fresh[item[0]] for item in wanted]


async def _zone_answers(
    repo: ScheduleRepository, schedule_id: int, zone_ids: Sequence[int], started: float, mark: int
) -> dict[int, ZoneAnswer]:
    """The answers of the date's zones ``zone_ids``, read in one statement that began at
    ``started`` (monotonic) under write mark ``mark``; each keeps the fingerprint of the rows it
    was built from."""
    seats, read = await repo.seats_by_zone(schedule_id, zone_ids)
    return {
        zone_id: ZoneAnswer(
            _tagged(started, ZoneSeatsOut(schedule_id, zone_id, seats.get(zone_id, []))),
            read.get(zone_id, (0, 0)),
            mark,
        )
        for zone_id in zone_ids
    }


def _tagged(read_at: float, answer: msgspec.Struct) -> Tagged:
    body = msgspec.json.encode(answer)
    return Tagged(read_at, body, etag_of(body))


def _summary(shape: DateShape, by_zone: dict[int, dict[str, int]]) -> SeatMapOut:
    left = {c.name: sum(zone.get(c.name, 0) for zone in by_zone.values()) for c in shape.classes}
    return SeatMapOut(
        schedule_id=shape.schedule_id,
        venue_id=shape.venue_id,
        classes=[ClassAvailability(c.name, c.price, left[c.name], c.color) for c in shape.classes],
        zones=[
            ZoneMapOut(
                id=zone.id,
                name=zone.name,
                available=sum(by_zone.get(zone.id, {}).values()),
                seat_count=zone.seat_count,
                available_by_class={
                    c.name: by_zone[zone.id][c.name] for c in shape.classes if c.name in by_zone.get(zone.id, {})
                },
                x=zone.x,
                y=zone.y,
            )
            for zone in shape.zones
        ],
    )

"""Schedules and seats and what operators create.

The two reads are the hottest of a sale, so each is one indexed query whose encoded answer is
kept in-process for at most ``TICKETING_SEAT_CACHE_SECONDS`` (default 0.5 s). A hold, payment,
release or expiry handled by this process drops the entry at once; one handled by another
process is seen within that bound. So a seat sold or held is never shown as available for longer
than ``seat_cache_seconds`` (and never sold twice: the cache only feeds the read endpoints, the
hold and payment paths always decide on the database).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import structlog

from ticketing.concerts.service import ConcertService
from ticketing.kernel.coalesce import Coalescer
from ticketing.kernel.singleflight import SingleFlight
from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.schedules.errors import InvalidSchedule, ScheduleNotFound, ScheduleNotOpen
from ticketing.schedules.repository import ScheduleRepository, ScheduleRow, SeatRepository
from ticketing.schedules.schemas import (
    PLAIN_CLASS,
    PLAIN_ZONE,
    ClassAvailability,
    ClassOut,
    ClassSales,
    ScheduleCreatedOut,
    ScheduleIn,
    ScheduleSales,
    SeatBrief,
    SeatRow,
)
from ticketing.schedules.seat_map import REFRESH_AHEAD, DateShape, SeatMaps, Tagged
from ticketing.venues.errors import ZoneNotFound
from ticketing.venues.service import PALETTE, VenueService
from ticketing.waiting_room.service import AdmittedToken, HoldLookup, WaitingRoomService

# Schedules are edited only when an operator closes a sale early (``close_sales``): another
# process may show the date as open on its cached copy for this long after, but a hold's own
# transaction asks the database (``reservations`` counts the fan's caps with ``window_open``).
SCHEDULE_META_SECONDS = 30.0
# How long a process trusts the sale opening it read. Dates are never edited or deleted, so an
# opening only ever moves earlier (a date that opens sooner is added): a process may learn of
# that this much later; the queue keeps the earliest opening any process told it.
OPENING_CACHE_SECONDS = 5.0
log = structlog.get_logger(__name__)

TAKEN_SEATS_REMEMBERED = 100_000  # seats known taken, per process (a few MB at most)
DEFAULT_SEAT_COUNT = 50
# Best available chooses among this many blocks of free seats (the front ones), at random, so
# that racing requests spread instead of all taking the first block.
BEST_AVAILABLE_BLOCKS = 16


def _created(
    schedule: ScheduleRow, seat_count: int, classes: list[ClassOut], seats: list[SeatBrief] | None
) -> ScheduleCreatedOut:
    return ScheduleCreatedOut(
        id=schedule.id,
        concert_id=schedule.concert_id,
        starts_at=schedule.starts_at,
        reservation_opens_at=schedule.reservation_opens_at,
        reservation_closes_at=schedule.reservation_closes_at,
        seat_count=seat_count,
        classes=classes,
        venue_id=schedule.venue_id,
        seats=seats or [],
    )


class ScheduleService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        concerts: ConcertService,
        venues: VenueService,
        waiting_room: WaitingRoomService,
        seat_cache_seconds: float,
    ) -> None:
        self._uow_factory = uow_factory
        self._concerts = concerts
        self._venues = venues
        self._waiting_room = waiting_room
        self._seat_maps = SeatMaps(uow_factory, seat_cache_seconds)
        self._meta: dict[int, tuple[float, ScheduleRow]] = {}
        self._seat_pages: dict[int, tuple[float, bytes]] = {}
        self._open_lists: dict[int, tuple[float, bytes]] = {}
        self._reads: SingleFlight[tuple[int, int], bytes] = SingleFlight()
        self._openings: dict[int, tuple[float, datetime | None]] = {}  # concert -> (read at, opening)
        # seat -> (schedule, known taken until, known since: monotonic)
        self._taken: dict[int, tuple[int, float, float]] = {}
        self._looking_again: dict[int, bool] = {}  # seat -> whether its look in flight may still be kept
        self._looks: set[asyncio.Task[None]] = set()
        self._opening_reads: SingleFlight[int, datetime | None] = SingleFlight()
        self._classes: dict[int, list[ClassAvailability]] = {}
        self._shapes: dict[int, DateShape] = {}
        self._first_looks: Coalescer[None, int, SeatRow | None] = Coalescer(self._read_first_looks)

    @property
    def cache_seconds(self) -> float:
        """The staleness bound of every read this service keeps (the seat map's too)."""
        return self._seat_maps.cache_seconds

    @cache_seconds.setter
    def cache_seconds(self, seconds: float) -> None:
        self._seat_maps.cache_seconds = seconds

    async def create_schedule(self, concert_id: int, data: ScheduleIn) -> ScheduleCreatedOut:
        if not data.reservation_opens_at < data.reservation_closes_at <= data.starts_at:
            raise InvalidSchedule("reservation_opens_at < reservation_closes_at <= starts_at is required")
        await self._concerts.ensure_exists(concert_id)
        if data.venue_id is not None:
            created = await self._create_on_venue(concert_id, data, data.venue_id, data.prices or {})
        else:
            created = await self._create_plain(concert_id, data, data.seat_count or DEFAULT_SEAT_COUNT, data.price or 0)
        self._open_lists.pop(concert_id, None)
        self._openings.pop(concert_id, None)
        await self._waiting_room.clear_sold_out(concert_id)  # a new date has seats: admit again
        return created

    async def _create_plain(self, concert_id: int, data: ScheduleIn, seat_count: int, price: int) -> ScheduleCreatedOut:
        """Seats 1..seat_count at one price: one zone and one class, named by the service."""
        async with self._uow_factory() as uow:
            repo = uow.repo(ScheduleRepository)
            schedule = await repo.add(
                concert_id, data.starts_at, data.reservation_opens_at, data.reservation_closes_at, None
            )
            zone_id = await self._venues.add_date_zone(uow, schedule.id, PLAIN_ZONE, seat_count)
            seats = await repo.add_seats(schedule.id, seat_count, price, zone_id, PLAIN_ZONE, PLAIN_CLASS)
            await repo.add_classes(schedule.id, [(PLAIN_CLASS, price, PALETTE[0], seat_count)])
            await uow.commit()
        return _created(schedule, seat_count, [ClassOut(PLAIN_CLASS, price, seat_count)], seats)

    async def _create_on_venue(
        self, concert_id: int, data: ScheduleIn, venue_id: int, prices: dict[str, int]
    ) -> ScheduleCreatedOut:
        """Every seat of the venue's plan, priced by its category: one INSERT ... SELECT."""
        venue = await self._venues.venue(venue_id)
        names = [category.name for category in venue.categories]
        missing, unknown = sorted(set(names) - set(prices)), sorted(set(prices) - set(names))
        if missing or unknown:
            raise InvalidSchedule(
                "prices takes one price for every category of the venue's plan: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"not categories of the plan: {', '.join(unknown)}" if unknown else "",
                    )
                    if part
                ),
                errors=[{"field": "prices", "message": f"expected exactly {', '.join(names)}"}],
            )
        async with self._uow_factory() as uow:
            repo = uow.repo(ScheduleRepository)
            schedule = await repo.add(
                concert_id, data.starts_at, data.reservation_opens_at, data.reservation_closes_at, venue_id
            )
            counts = await repo.add_seats_from_venue(schedule.id, venue_id, prices)
            classes = [(c.name, prices[c.name], c.color, counts.get(c.name, 0)) for c in venue.categories]
            await repo.add_classes(schedule.id, classes)
            await uow.commit()
        return _created(schedule, venue.seat_count, [ClassOut(name, price, n) for name, price, _, n in classes], None)

    async def schedule(self, schedule_id: int, uow: UnitOfWork | None = None) -> ScheduleRow:
        """The schedule (remembered for ``SCHEDULE_META_SECONDS``). ``uow``: read through the
        caller's unit of work, when the caller holds a connection (a refund's transaction) rather
        than take a second one from the pool."""
        cached = self._meta.get(schedule_id)
        if cached is not None and time.monotonic() - cached[0] < SCHEDULE_META_SECONDS:
            return cached[1]
        if uow is not None:
            row = await uow.repo(ScheduleRepository).get(schedule_id)
        else:
            async with self._uow_factory(autocommit=True) as own:
                row = await own.repo(ScheduleRepository).get(schedule_id)
        if row is None:
            raise ScheduleNotFound()
        self._meta[schedule_id] = (time.monotonic(), row)
        return row

    async def open_schedule(self, schedule_id: int, admitted: AdmittedToken | None = None) -> ScheduleRow:
        """The schedule, checked to exist, to belong to the token's concert and to be open now."""
        schedule = await self.schedule(schedule_id)
        if admitted is not None:
            admitted.ensure_concert(schedule.concert_id)
        if not schedule.is_open(datetime.now(UTC)):
            raise ScheduleNotOpen(
                f"reservations are open from {schedule.reservation_opens_at.isoformat()} "
                f"to {schedule.reservation_closes_at.isoformat()}"
            )
        return schedule

    async def open_schedules(
        self, user_id: int, queue_token: str | None, concert_id: int, *, holds: HoldLookup | None = None
    ) -> bytes:
        admitted = await self._waiting_room.require_pass(queue_token, user_id, holds=holds)
        await self._concerts.ensure_exists(concert_id)
        admitted.ensure_concert(concert_id)
        return await self._fresh_enough(
            self._open_lists, concert_id, lambda repo: repo.open_with_seats_left(concert_id)
        )

    async def seats(
        self, user_id: int, queue_token: str | None, schedule_id: int, *, holds: HoldLookup | None = None
    ) -> bytes:
        admitted = await self._waiting_room.require_pass(queue_token, user_id, holds=holds)
        schedule = await self.open_schedule(schedule_id, admitted)
        names = {zone.id: zone.name for zone in await self._venues.zones(schedule.venue_id, schedule_id)}
        return await self._fresh_enough(self._seat_pages, schedule_id, lambda repo: repo.seats(schedule_id, names))

    async def seat_map(
        self, user_id: int, queue_token: str | None, schedule_id: int, *, holds: HoldLookup | None = None
    ) -> Tagged:
        """The date's classes and zones with what is left in each (encoded, with its ETag),
        within the seat list's staleness bound (schedules/seat_map.py)."""
        admitted = await self._waiting_room.require_pass(queue_token, user_id, holds=holds)
        schedule = await self.open_schedule(schedule_id, admitted)
        return (await self._seat_maps.view(await self._shape(schedule))).summary

    async def zone_seats(
        self, user_id: int, queue_token: str | None, schedule_id: int, zone_id: int, *, holds: HoldLookup | None = None
    ) -> Tagged:
        """The seats of one zone of the date (encoded, with its ETag), within the same bound.
        ZoneNotFound for a zone of another venue or date."""
        admitted = await self._waiting_room.require_pass(queue_token, user_id, holds=holds)
        schedule = await self.open_schedule(schedule_id, admitted)
        shape = await self._shape(schedule)
        if zone_id not in shape.zone_ids:
            raise ZoneNotFound(f"zone {zone_id} is not a zone of schedule {schedule_id}")
        return await self._seat_maps.zone(shape, zone_id)

    async def _shape(self, schedule: ScheduleRow) -> DateShape:
        """The date's venue, zones and classes (they never change once the date exists)."""
        shape = self._shapes.get(schedule.id)
        if shape is None:
            zones = await self._venues.zones(schedule.venue_id, schedule.id)
            shape = DateShape(schedule.id, schedule.venue_id, zones, await self._class_list(schedule.id))
            if zones:  # a date being created has none yet: not remembered
                self._shapes[schedule.id] = shape
        return shape

    def seat_map_cache_bytes(self, schedule_id: int) -> int:
        """What this process keeps of the date's seat map and zones (bodies, ETags and entries;
        the compressed copies are counted by ``core.http.COMPRESSED_BODIES``)."""
        return self._seat_maps.size_bytes(schedule_id)

    async def _class_list(self, schedule_id: int) -> list[ClassAvailability]:
        """The date's price classes, in order (they never change once the date exists)."""
        cached = self._classes.get(schedule_id)
        if cached is None:
            async with self._uow_factory(autocommit=True) as uow:
                cached = self._classes[schedule_id] = (await uow.repo(ScheduleRepository).classes([schedule_id]))[
                    schedule_id
                ]
        return cached

    async def class_names(self, schedule_id: int) -> list[str]:
        """The date's price classes (never change once the date exists)."""
        return [c.name for c in await self._class_list(schedule_id)]

    async def pick_best_available(
        self, schedule_id: int, class_name: str, quantity: int, excluded: Sequence[int]
    ) -> list[int]:
        """Seats of the class side by side in one row, else any; fewer when fewer are free
        (no lock: the hold decides). See SeatRepository.pick_best_available."""
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(SeatRepository).pick_best_available(
                schedule_id, class_name, quantity, excluded, BEST_AVAILABLE_BLOCKS
            )

    async def _fresh_enough(
        self,
        cache: dict[int, tuple[float, bytes]],
        key: int,
        read: Callable[[ScheduleRepository], Awaitable[Sequence[msgspec.Struct]]],
    ) -> bytes:
        """The encoded answer, read again once it is older than ``cache_seconds``. One read at a
        time per entry: the requests that find it stale meanwhile wait for that read instead of
        sending their own (under load, dozens arrive in the millisecond a read takes)."""
        cached = cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]

        async def read_now() -> bytes:
            started = time.monotonic()  # the answer is as old as the moment the read began
            async with self._uow_factory(autocommit=True) as uow:
                body = msgspec.json.encode(await read(uow.repo(ScheduleRepository)))
            cache[key] = (started, body)
            return body

        return await self._reads.run((id(cache), key), read_now)

    def invalidate(self, schedule_id: int) -> None:
        """Called after a hold, payment, release or expiry in this process."""
        self._seat_pages.pop(schedule_id, None)
        self._seat_maps.written(schedule_id)
        meta = self._meta.get(schedule_id)
        if meta is not None:
            self._open_lists.pop(meta[1].concert_id, None)

    async def sale_opens_at(self, concert_id: int) -> datetime | None:
        """When the concert's sale opens: the earliest ``reservation_opens_at`` of its dates
        (None: no dates yet). ConcertNotFound for an unknown concert. Read once per
        ``OPENING_CACHE_SECONDS`` per process (the hot path of a queue join), one read at a time."""
        cached = self._openings.get(concert_id)
        if cached is not None and time.monotonic() - cached[0] < OPENING_CACHE_SECONDS:
            return cached[1]

        async def read() -> datetime | None:
            started = time.monotonic()
            await self._concerts.ensure_exists(concert_id)
            async with self._uow_factory(autocommit=True) as uow:
                opens_at = await uow.repo(ScheduleRepository).earliest_opening(concert_id)
            self._openings[concert_id] = (started, opens_at)
            return opens_at

        return await self._opening_reads.run(concert_id, read)

    async def schedule_ids(self, concert_id: int) -> list[int]:
        """The ids of the concert's dates (for other domains' reads by concert)."""
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ScheduleRepository).ids_of_concert(concert_id)

    # -- seats, for the hold path (reservations) in the caller's unit of work ------------------

    async def read_seats(self, seat_ids: Sequence[int]) -> list[SeatRow]:
        """The seats that exist, by ascending id, without a lock (a hold's first look: a taken
        seat answers 409 at once). The taken ones are remembered for ``known_taken``."""
        if len(seat_ids) == 1:
            # A one-seat hold (the hot path: a race's losers once this process's memory of the seat
            # has run out): the first looks of every hold waiting at that moment are one read.
            seat = await self._first_looks.submit(None, seat_ids[0])
            seats = [seat] if seat is not None else []
        else:
            async with self._uow_factory(autocommit=True) as uow:
                seats = await uow.repo(SeatRepository).read_many(seat_ids)
        self._remember(seats)
        return seats

    async def _read_first_looks(self, _: None, seat_ids: list[int]) -> list[SeatRow | BaseException | None]:
        async with self._uow_factory(autocommit=True) as uow:
            found = {seat.id: seat for seat in await uow.repo(SeatRepository).read_many(sorted(set(seat_ids)))}
        return [found.get(seat_id) for seat_id in seat_ids]

    def known_taken(self, seat_id: int) -> int | None:
        """The seat's schedule id if this process saw the seat taken less than
        ``cache_seconds`` ago (and, held, its hold has not run out since), else None. A hold race's
        losers are told from memory, without a database read; like the seat map, this may only err
        towards "taken", and for at most ``cache_seconds`` after another process freed the seat
        (this process's own releases, expiries and refunds forget it at once).

        From half the bound on, the first loser to ask starts one look at the seat in the
        background (answered from memory meanwhile), which renews or ends the memory: under a
        race the losers never all take the full path at once when a seat's memory would run out
        (they did, every ``cache_seconds`` per seat and process: the hold race's p99)."""
        known = self._taken.get(seat_id)
        if known is None:
            return None
        schedule_id, until, since = known
        now = time.monotonic()
        if now >= until:
            del self._taken[seat_id]
            return None
        if now - since >= self.cache_seconds * REFRESH_AHEAD and seat_id not in self._looking_again:
            self._looking_again[seat_id] = True
            look = asyncio.create_task(self._look_again(seat_id))
            self._looks.add(look)
            look.add_done_callback(self._looks.discard)
        return schedule_id

    async def _look_again(self, seat_id: int) -> None:
        since, wall = time.monotonic(), datetime.now(UTC)
        try:
            seat = await self._first_looks.submit(None, seat_id)
        except Exception as error:  # the memory runs out as it would have; the next loser reads
            log.warning("taken_seat_look_failed", seat_id=seat_id, error=repr(error))
            return
        finally:
            keep = self._looking_again.pop(seat_id, False)
        if not keep:
            return  # forgotten meanwhile (this process freed it): the look may predate that
        if seat is None:
            self._taken.pop(seat_id, None)
        else:
            self._remember([seat], since=since, wall=wall)

    def _remember(self, seats: Sequence[SeatRow], *, since: float | None = None, wall: datetime | None = None) -> None:
        """Remember the taken ones of ``seats`` as of ``since`` (monotonic, when their read began;
        ``wall`` the same moment in UTC), or now; forget the free ones."""
        if not self.cache_seconds:
            return
        now = time.monotonic() if since is None else since
        wall = wall or datetime.now(UTC)
        if len(self._taken) > TAKEN_SEATS_REMEMBERED:
            self._taken.clear()
        for seat in seats:
            if seat.free:
                self._taken.pop(seat.id, None)
                continue
            until = now + self.cache_seconds
            if seat.held_until is not None:  # held: taken at most until its hold runs out
                until = min(until, now + (seat.held_until - wall).total_seconds())
            self._taken[seat.id] = (seat.schedule_id, until, now)

    def forget_taken(self, seat_ids: Sequence[int]) -> None:
        for seat_id in seat_ids:
            self._taken.pop(seat_id, None)
            if seat_id in self._looking_again:
                self._looking_again[seat_id] = False

    @staticmethod
    async def take_seat(uow: UnitOfWork, seat_id: int, hold: timedelta) -> SeatRow | None:
        """Mark the seat HELD for ``hold`` if it is free, under its row lock (``FOR UPDATE``,
        whatever the strategy: ``redis+db`` only adds the Redis lock before the transaction); None
        when it is not free. The caller's transaction commits or rolls back the change."""
        seats = uow.repo(SeatRepository)
        read = await seats.lock(seat_id)
        return await seats.mark_held(seat_id, hold) if read and read.free else None

    async def free_seats(self, uow: UnitOfWork, seat_ids: Sequence[int], *, lapsed_only: bool = False) -> None:
        """Put the seats of released (or, ``lapsed_only``, expired) holds back on sale."""
        if seat_ids:
            await uow.repo(SeatRepository).free_held(seat_ids, lapsed_only=lapsed_only)
            self.forget_taken(seat_ids)  # early is harmless: a forgotten seat is read again

    async def resell_seats(self, uow: UnitOfWork, seat_ids: Sequence[int]) -> int:
        """Put sold seats back on sale (a refund, in its transaction); the caller invalidates the
        seat caches after its commit. Returns how many were sold."""
        if not seat_ids:
            return 0
        self.forget_taken(seat_ids)
        return await uow.repo(SeatRepository).free_sold(seat_ids)

    async def sales(self, concert_id: int) -> list[ScheduleSales]:
        await self._concerts.ensure_exists(concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ScheduleRepository).sales(concert_id)

    async def close_sales(self, concert_id: int) -> list[int]:
        """End the open reservation windows of the concert's dates now (the ids of those closed)."""
        await self._concerts.ensure_exists(concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            closed = await uow.repo(ScheduleRepository).close_open_windows(concert_id)
        for schedule_id in closed:
            self._meta.pop(schedule_id, None)
        self._open_lists.pop(concert_id, None)
        self._openings.pop(concert_id, None)
        return closed

    async def class_sales(self, concert_id: int) -> list[ClassSales]:
        await self._concerts.ensure_exists(concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ScheduleRepository).class_sales(concert_id)

    async def seats_for_sale(self, concert_id: int, most: int) -> int:
        """The concert's seats left for sale now (neither held nor sold, of its dates open for
        sale), counted up to ``most``: what the waiting room's admission is bounded by."""
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ScheduleRepository).seats_for_sale(concert_id, most)

    async def concert_sold_out(self, concert_id: int) -> bool:
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ScheduleRepository).concert_sold_out(concert_id)

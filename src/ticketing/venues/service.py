"""Venues: seating plans uploaded by operators, read whole and checked before anything is
stored, then kept as a template (``venue_seats``) that every date on the venue copies its seats
from in one statement. Venues are never edited: what a process read of one it keeps."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.venues.errors import InvalidSeatingPlan, VenueNotFound
from ticketing.venues.repository import VenueRepository, VenueRow
from ticketing.venues.schemas import (
    MAX_SEATS,
    CategoryOut,
    SeatingPlan,
    TemplateSeat,
    VenueIn,
    VenueOut,
    ZoneInfo,
    ZoneOut,
)

# The colours of categories the plan gives none (a colour-blind-safe palette; the pages also
# say each seat's class in words).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def etag_of(body: bytes) -> str:
    """The ETag of ``body`` as the header carries it: weak (``W/``), because the same tag names the
    answer whether it is sent as it is, with brotli or with gzip (RFC 9110 section 8.8.3)."""
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def read_plan(raw: dict[str, Any]) -> tuple[SeatingPlan, list[TemplateSeat]]:
    """The plan checked whole, and its seats in seat order (zone by zone, row by row, left to
    right: consecutive numbers in a row are side by side). InvalidSeatingPlan names the first fault."""
    try:
        plan = msgspec.convert(raw, SeatingPlan)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        where = where.rstrip("`").removeprefix("$")
        raise InvalidSeatingPlan(
            f"plan{where}: {message}", errors=[{"field": f"plan{where}", "message": message}]
        ) from None
    seat_count = sum(len(row.seats) for zone in plan.zones for row in zone.rows)
    if seat_count == 0:
        raise _fault("plan.zones", "the plan has no seats")
    if seat_count > MAX_SEATS:
        raise _fault("plan.zones", f"the plan has {seat_count:,} seats; at most {MAX_SEATS:,} are allowed")
    if not plan.categories:
        raise _fault("plan.categories", "the plan has no categories")
    categories: set[str] = set()
    for n, category in enumerate(plan.categories):
        if category.name in categories:
            raise _fault(f"plan.categories[{n}].name", f"category {category.name!r} appears twice")
        categories.add(category.name)
    guids: set[str] = set()
    seats: list[TemplateSeat] = []
    for z, zone in enumerate(plan.zones):
        for r, row in enumerate(zone.rows):
            for s, seat in sorted(enumerate(row.seats), key=lambda pair: (pair[1].position.x, pair[1].position.y)):
                where = f"plan.zones[{z}].rows[{r}].seats[{s}]"
                if seat.category not in categories:
                    raise _fault(f"{where}.category", f"category {seat.category!r} is not one of the plan's categories")
                if seat.seat_guid in guids:
                    raise _fault(f"{where}.seat_guid", f"seat_guid {seat.seat_guid!r} appears more than once")
                guids.add(seat.seat_guid)
                seats.append(
                    TemplateSeat(len(seats) + 1, z, row.row_number, seat.seat_number, seat.category, seat.seat_guid)
                )
    return plan, seats


def _fault(field: str, message: str) -> InvalidSeatingPlan:
    return InvalidSeatingPlan(f"{field}: {message}", errors=[{"field": field, "message": message}])


class VenueService:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory
        self._venues: dict[int, VenueOut] = {}
        self._zones: dict[tuple[str, int], list[ZoneInfo]] = {}

    async def create_venue(self, data: VenueIn) -> VenueOut:
        plan, seats = read_plan(data.plan)
        stored = msgspec.json.encode(data.plan)
        categories = [
            {"name": c.name, "color": c.color or PALETTE[n % len(PALETTE)]} for n, c in enumerate(plan.categories)
        ]
        counts = [sum(len(row.seats) for row in zone.rows) for zone in plan.zones]
        async with self._uow_factory() as uow:
            repo = uow.repo(VenueRepository)
            venue_id = await repo.add(data.name, len(seats), categories, stored, etag_of(stored))
            zone_ids = await repo.add_zones(
                venue_id, [(z.name, z.position.x, z.position.y, n) for z, n in zip(plan.zones, counts, strict=True)]
            )
            await repo.add_template_seats(venue_id, zone_ids, seats)
            await uow.commit()
        return VenueOut(
            id=venue_id,
            name=data.name,
            seat_count=len(seats),
            zones=[
                ZoneOut(id=i, name=z.name, seat_count=n) for i, z, n in zip(zone_ids, plan.zones, counts, strict=True)
            ],
            categories=[CategoryOut(**c) for c in categories],
        )

    async def venue(self, venue_id: int) -> VenueOut:
        cached = self._venues.get(venue_id)
        if cached is not None:
            return cached
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(VenueRepository)
            row = await repo.get(venue_id)
            if row is None:
                raise VenueNotFound()
            zones = await repo.zones_of_venue(venue_id)
        venue = _venue_out(row, zones)
        self._venues[venue_id] = venue
        return venue

    async def plan(self, venue_id: int) -> tuple[bytes, str]:
        """The plan as uploaded, and its ETag. Not kept in memory: it is large and read rarely
        (clients and proxies cache it: it never changes)."""
        async with self._uow_factory(autocommit=True) as uow:
            found = await uow.repo(VenueRepository).plan(venue_id)
        if found is None:
            raise VenueNotFound()
        return found

    async def add_date_zone(self, uow: UnitOfWork, schedule_id: int, name: str, seat_count: int) -> int:
        """The one zone of a date made from seat_count (in the caller's transaction)."""
        return await uow.repo(VenueRepository).add_date_zone(schedule_id, name, seat_count)

    async def zones(self, venue_id: int | None, schedule_id: int) -> list[ZoneInfo]:
        """The zones of a date: its venue's, or (``venue_id`` None) its own one zone."""
        key = ("venue", venue_id) if venue_id is not None else ("date", schedule_id)
        cached = self._zones.get(key)
        if cached is not None:
            return cached
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(VenueRepository)
            zones = await (repo.zones_of_venue(venue_id) if venue_id is not None else repo.zones_of_date(schedule_id))
        if zones:  # a date being created has none yet: not remembered
            self._zones[key] = zones
        return zones


def _venue_out(row: VenueRow, zones: list[ZoneInfo]) -> VenueOut:
    return VenueOut(
        id=row.id,
        name=row.name,
        seat_count=row.seat_count,
        zones=[ZoneOut(id=z.id, name=z.name, seat_count=z.seat_count) for z in zones],
        categories=[CategoryOut(name=c["name"], color=c["color"]) for c in row.categories],
    )

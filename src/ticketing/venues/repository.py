"""The ``venues``, ``zones`` and ``venue_seats`` tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ticketing.kernel.db import Database, required
from ticketing.venues.schemas import TemplateSeat, ZoneInfo

ZONE_COLUMNS = "zones.id, zones.name, zones.x, zones.y, zones.seat_count"


@dataclass(frozen=True, slots=True)
class VenueRow:
    id: int
    name: str
    seat_count: int
    categories: list[dict[str, str]]


class VenueRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, name: str, seat_count: int, categories: list[dict[str, str]], plan: bytes, etag: str) -> int:
        sql = (
            "INSERT INTO venues (name, seat_count, categories, plan, plan_etag) "
            "VALUES ($1, $2, $3::text::jsonb, $4, $5) RETURNING id"
        )
        venue_id: int = await self.db.fetchval(
            sql, name, seat_count, msgspec.json.encode(categories).decode(), plan, etag
        )
        return venue_id

    async def add_zones(self, venue_id: int, zones: Sequence[tuple[str, float, float, int]]) -> list[int]:
        """The zones (name, x, y, seat count) in the order given; their ids in that order."""
        sql = (
            "INSERT INTO zones (venue_id, name, ordinal, x, y, seat_count) "
            "SELECT $1, z.name, z.ordinal, z.x, z.y, z.seat_count "
            "FROM unnest($2::text[], $3::int[], $4::float8[], $5::float8[], $6::int[]) "
            "AS z(name, ordinal, x, y, seat_count) ORDER BY z.ordinal RETURNING id, ordinal"
        )
        names, xs, ys, counts = zip(*zones, strict=True) if zones else ((), (), (), ())
        rows = await self.db.fetch(
            sql, venue_id, list(names), list(range(len(zones))), list(xs), list(ys), list(counts)
        )
        by_ordinal = {row[1]: row[0] for row in rows}
        return [by_ordinal[n] for n in range(len(zones))]

    async def add_template_seats(self, venue_id: int, zone_ids: list[int], seats: Sequence[TemplateSeat]) -> None:
        """Every seat of the plan with one COPY (100,000 seats: one round trip of rows, no statements)."""
        records = [(venue_id, s.number, zone_ids[s.zone_ordinal], s.row, s.label, s.class_name, s.guid) for s in seats]
        await self.db.copy_records_to_table(
            "venue_seats",
            records=records,
            columns=["venue_id", "number", "zone_id", "row", "label", "class_name", "guid"],
        )

    async def add_date_zone(self, schedule_id: int, name: str, seat_count: int) -> int:
        sql = "INSERT INTO zones (schedule_id, name, ordinal, seat_count) VALUES ($1, $2, 0, $3) RETURNING id"
        zone_id: int = await self.db.fetchval(sql, schedule_id, name, seat_count)
        return zone_id

    async def get(self, venue_id: int) -> VenueRow | None:
        sql = "SELECT id, name, seat_count, categories::text FROM venues WHERE id = $1"
        row = await self.db.fetchrow(sql, venue_id)
        if row is None:
            return None
        categories: list[dict[str, Any]] = msgspec.json.decode(row[3])
        return VenueRow(row[0], row[1], row[2], categories)

    async def plan(self, venue_id: int) -> tuple[bytes, str] | None:
        row = await self.db.fetchrow("SELECT plan, plan_etag FROM venues WHERE id = $1", venue_id)
        return (bytes(row[0]), row[1]) if row is not None else None

    async def zones_of_venue(self, venue_id: int) -> list[ZoneInfo]:
        sql = f"SELECT {ZONE_COLUMNS} FROM zones WHERE venue_id = $1 ORDER BY ordinal, id"
        return [ZoneInfo(*required(row)) for row in await self.db.fetch(sql, venue_id)]

    async def zones_of_date(self, schedule_id: int) -> list[ZoneInfo]:
        sql = f"SELECT {ZONE_COLUMNS} FROM zones WHERE schedule_id = $1 ORDER BY ordinal, id"
        return [ZoneInfo(*required(row)) for row in await self.db.fetch(sql, schedule_id)]

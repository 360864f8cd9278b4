"""The ``schedules`` and ``seats`` tables: every statement that writes them is here (the
one-statement payment composes the fragments of ``sql.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ticketing.kernel.db import Database, required
from ticketing.schedules.schemas import (
    ClassAvailability,
    ClassSales,
    ScheduleOut,
    ScheduleSales,
    SeatBrief,
    SeatOut,
    SeatRow,
    ZoneSeatOut,
)
from ticketing.schedules.sql import FREE_SEAT_HASH, SEAT_IS_FREE, SEATS_OF_SCHEDULE, UNSOLD_OF_SCHEDULE
from ticketing.venues.sql import template_seats

# Seats free, held (a live hold) and sold, counted over the seats of the query.
_FREE_HELD_SOLD = (
    f"count(*) FILTER (WHERE {SEAT_IS_FREE}), "
    f"count(*) FILTER (WHERE seats.status = 'HELD' AND NOT {SEAT_IS_FREE}), "
    "count(*) FILTER (WHERE seats.status = 'SOLD')"
)


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime
    venue_id: int | None

    def is_open(self, now: datetime) -> bool:
        return self.reservation_opens_at <= now < self.reservation_closes_at


SCHEDULE_COLUMNS = (
    "schedules.id, schedules.concert_id, schedules.starts_at, "
    "schedules.reservation_opens_at, schedules.reservation_closes_at, schedules.venue_id"
)


SEAT_COLUMNS = (
    "seats.id, seats.schedule_id, seats.number, seats.price, seats.status, seats.held_until, seats.version, "
    f"{SEAT_IS_FREE} AS free"
)
HOLD_SEAT = "status = 'HELD', held_until = now() + $2::interval, version = seats.version + 1"
FREE_SEAT = "status = 'AVAILABLE', held_until = NULL, version = seats.version + 1"


def _seat(row: asyncpg.Record | None) -> SeatRow | None:
    return SeatRow(*row) if row is not None else None


class ScheduleRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, concert_id: int, starts_at: datetime, opens_at: datetime, closes_at: datetime, venue_id: int | None
    ) -> ScheduleRow:
        sql = (
            "INSERT INTO schedules (concert_id, starts_at, reservation_opens_at, reservation_closes_at, venue_id) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {SCHEDULE_COLUMNS}"
        )
        row = await self.db.fetchrow(sql, concert_id, starts_at, opens_at, closes_at, venue_id)
        return ScheduleRow(*required(row))

    async def add_seats(
        self, schedule_id: int, seat_count: int, price: int, zone_id: int, zone: str, class_name: str
    ) -> list[SeatBrief]:
        """Seats 1..seat_count in one statement (generate_series), whatever the count: one row
        of one zone, each labelled with its number."""
        sql = (
            "INSERT INTO seats (schedule_id, number, price, zone_id, row, label, class_name) "
            "SELECT $1, n, $3, $4, '1', n::text, $5 FROM generate_series(1, $2::int) n "
            "RETURNING id, number, price, row, label"
        )
        rows = await self.db.fetch(sql, schedule_id, seat_count, price, zone_id, class_name)
        seats = (SeatBrief(r[0], r[1], r[2], zone, r[3], r[4], class_name) for r in rows)
        return sorted(seats, key=lambda seat: seat.number)

    async def add_seats_from_venue(self, schedule_id: int, venue_id: int, prices: dict[str, int]) -> dict[str, int]:
        """Every seat of the venue's plan, priced by its class, in one INSERT ... SELECT from the
        venue's seat template (60,000 seats: one statement, no round trip per seat). Returns
        the number of seats of each class."""
        names, amounts = list(prices), list(prices.values())
        sql = (
            "WITH added AS (INSERT INTO seats (schedule_id, number, price, zone_id, row, label, class_name) "
            "SELECT $1, template.number, price.amount, template.zone_id, template.row, template.label, "
            f"template.class_name FROM ({template_seats('$2')}) template "
            "JOIN unnest($3::text[], $4::bigint[]) AS price(name, amount) ON price.name = template.class_name "
            "RETURNING class_name) SELECT class_name, count(*) FROM added GROUP BY class_name"
        )
        rows = await self.db.fetch(sql, schedule_id, venue_id, names, amounts)
        return {row[0]: row[1] for row in rows}

    async def add_classes(self, schedule_id: int, classes: Sequence[tuple[str, int, str, int]]) -> None:
        """The date's price classes (name, price, colour, seat count), in the order given."""
        sql = (
            "INSERT INTO schedule_classes (schedule_id, name, ordinal, price, color, seat_count) "
            "SELECT $1, c.name, c.ordinal, c.price, c.color, c.seat_count "
            "FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[], $6::int[]) "
            "AS c(name, ordinal, price, color, seat_count)"
        )
        names, prices, colors, counts = (list(column) for column in zip(*classes, strict=True))
        await self.db.execute(sql, schedule_id, names, list(range(len(classes))), prices, colors, counts)

    async def classes(self, schedule_ids: Sequence[int]) -> dict[int, list[ClassAvailability]]:
        """Each date's classes in their order, with the seats of each available now."""
        sql = (
            "SELECT c.schedule_id, c.name, c.price, (SELECT count(*) FROM seats "
            f"  WHERE seats.schedule_id = c.schedule_id AND seats.class_name = c.name AND {SEAT_IS_FREE}), c.color "
            "FROM schedule_classes c WHERE c.schedule_id = ANY($1::bigint[]) ORDER BY c.schedule_id, c.ordinal"
        )
        found: dict[int, list[ClassAvailability]] = {schedule_id: [] for schedule_id in schedule_ids}
        for row in await self.db.fetch(sql, list(schedule_ids)):
            found[row[0]].append(ClassAvailability(row[1], row[2], row[3], row[4]))
        return found

    async def availability(self, schedule_id: int) -> list[tuple[int, str, int, int]]:
        """(zone id, class, available, fingerprint) of every zone and class of the date: one scan
        of the date's seats. The fingerprint is the XOR of a hash of the free seats' ids
        (``FREE_SEAT_HASH``): with the count, it tells whether a zone's free seats moved."""
        sql = (
            f"SELECT zone_id, class_name, count(*) FILTER (WHERE {SEAT_IS_FREE}), "
            f"coalesce(bit_xor({FREE_SEAT_HASH}), 0) FROM seats WHERE schedule_id = $1 GROUP BY zone_id, class_name"
        )
        return [(r[0], r[1], r[2], r[3]) for r in await self.db.fetch(sql, schedule_id)]

    async def seats_by_zone(
        self, schedule_id: int, zone_ids: Sequence[int]
    ) -> tuple[dict[int, list[ZoneSeatOut]], dict[int, tuple[int, int]]]:
        """The seats of the date's zones ``zone_ids``, each zone's in seat order, in one statement;
        and each zone's fingerprint as ``availability`` gives it, from the same rows (so a kept
        answer and its fingerprint always agree)."""
        sql = (
            f"SELECT zone_id, id, row, label, class_name, price, {SEAT_IS_FREE}, coalesce({FREE_SEAT_HASH}, 0) "
            "FROM seats WHERE schedule_id = $1 AND zone_id = ANY($2::bigint[]) ORDER BY number"
        )
        found: dict[int, list[ZoneSeatOut]] = {}
        fingerprints: dict[int, tuple[int, int]] = {}
        for r in await self.db.fetch(sql, schedule_id, list(zone_ids)):
            found.setdefault(r[0], []).append(ZoneSeatOut(r[1], r[2], r[3], r[4], r[5], r[6]))
            free, hashed = fingerprints.get(r[0], (0, 0))
            fingerprints[r[0]] = (free + r[6], hashed ^ r[7])
        return found, fingerprints

    async def earliest_opening(self, concert_id: int) -> datetime | None:
        sql = "SELECT min(reservation_opens_at) FROM schedules WHERE concert_id = $1"
        value: datetime | None = await self.db.fetchval(sql, concert_id)
        return value

    async def ids_of_concert(self, concert_id: int) -> list[int]:
        sql = "SELECT id FROM schedules WHERE concert_id = $1 ORDER BY id"
        return [row[0] for row in await self.db.fetch(sql, concert_id)]

    async def get(self, schedule_id: int) -> ScheduleRow | None:
        row = await self.db.fetchrow(f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1", schedule_id)
        return ScheduleRow(*row) if row else None

    async def open_with_seats_left(self, concert_id: int) -> list[ScheduleOut]:
        sql = (
            f"SELECT {SCHEDULE_COLUMNS}, free.available FROM schedules "
            f"CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE {SEAT_IS_FREE}) AS available {SEATS_OF_SCHEDULE}) free "
            "WHERE schedules.concert_id = $1 AND schedules.reservation_opens_at <= now() "
            "  AND schedules.reservation_closes_at > now() AND free.available > 0 "
            "ORDER BY schedules.starts_at, schedules.id"
        )
        rows = await self.db.fetch(sql, concert_id)
        classes = await self.classes([row[0] for row in rows])
        return [
            ScheduleOut(
                id=row[0],
                concert_id=row[1],
                starts_at=row[2],
                reservation_opens_at=row[3],
                reservation_closes_at=row[4],
                available_seats=row[6],
                classes=classes[row[0]],
                venue_id=row[5],
            )
            for row in rows
        ]

    async def seats(self, schedule_id: int, zone_names: dict[int, str]) -> list[SeatOut]:
        sql = (
            f"SELECT id, schedule_id, number, price, {SEAT_IS_FREE}, zone_id, row, label, class_name "
            "FROM seats WHERE schedule_id = $1 ORDER BY number"
        )
        rows = await self.db.fetch(sql, schedule_id)
        return [SeatOut(r[0], r[1], r[2], r[3], r[4], zone_names.get(r[5], ""), r[6], r[7], r[8]) for r in rows]

    async def sales(self, concert_id: int) -> list[ScheduleSales]:
        """Seats available / held / sold and revenue per schedule, for the operator dashboard."""
        sql = (
            "SELECT schedules.id, schedules.starts_at, counts.*, schedules.reservation_opens_at, "
            "schedules.reservation_closes_at FROM schedules CROSS JOIN LATERAL ("
            f"  SELECT {_FREE_HELD_SOLD}, "
            "  COALESCE(sum(seats.price) FILTER (WHERE seats.status = 'SOLD'), 0)::bigint "
            f"  {SEATS_OF_SCHEDULE}) counts "
            "WHERE schedules.concert_id = $1 ORDER BY schedules.starts_at, schedules.id"
        )
        rows = await self.db.fetch(sql, concert_id)
        return [ScheduleSales(*row) for row in rows]

    async def class_sales(self, concert_id: int) -> list[ClassSales]:
        """Seats free / held / sold per price class of each date, for the operator's charts."""
        sql = (
            "SELECT schedules.id, classes.name, classes.price, classes.color, classes.seat_count, counts.* "
            "FROM schedules JOIN schedule_classes classes ON classes.schedule_id = schedules.id "
            "CROSS JOIN LATERAL ("
            f"  SELECT {_FREE_HELD_SOLD} "
            f"  {SEATS_OF_SCHEDULE} AND seats.class_name = classes.name) counts "
            "WHERE schedules.concert_id = $1 ORDER BY schedules.starts_at, schedules.id, classes.ordinal"
        )
        rows = await self.db.fetch(sql, concert_id)
        return [ClassSales(*row) for row in rows]

    async def close_open_windows(self, concert_id: int) -> list[int]:
        """End now the reservation window of each of the concert's dates that is open; the ids.
        (A date whose window has not opened yet is left as it is.)"""
        sql = (
            "UPDATE schedules SET reservation_closes_at = now() WHERE concert_id = $1 "
            "AND reservation_opens_at < now() AND now() < reservation_closes_at RETURNING id"
        )
        rows = await self.db.fetch(sql, concert_id)
        return sorted(row[0] for row in rows)

    async def seats_for_sale(self, concert_id: int, most: int) -> int:
        """Free seats of the concert's dates whose reservation window is open, counted up to
        ``most`` (the count stops there: a few thousand index entries at most, every tick)."""
        sql = (
            "SELECT count(*) FROM (SELECT 1 FROM schedules CROSS JOIN LATERAL "
            f"  (SELECT 1 {SEATS_OF_SCHEDULE} AND {SEAT_IS_FREE} LIMIT $2) free "
            "  WHERE schedules.concert_id = $1 "
            "    AND schedules.reservation_opens_at <= now() AND now() < schedules.reservation_closes_at "
            "  LIMIT $2) counted"
        )
        return int(await self.db.fetchval(sql, concert_id, most))

    async def concert_sold_out(self, concert_id: int) -> bool:
        """The concert has dates (each has seats) and no unsold seat: one round trip; the search
        for an unsold seat stops at the first it finds."""
        sql = (
            "SELECT EXISTS (SELECT 1 FROM schedules WHERE concert_id = $1) AND NOT EXISTS ("
            "  SELECT 1 FROM schedules CROSS JOIN LATERAL "
            f"  (SELECT 1 {UNSOLD_OF_SCHEDULE} ORDER BY seats.schedule_id, seats.id LIMIT 1) unsold "
            "  WHERE schedules.concert_id = $1)"
        )
        return bool(await self.db.fetchval(sql, concert_id))


class SeatRepository:
    """Seat rows of the hold path: a free seat is taken by ``lock`` then ``mark_held``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, seat_id: int) -> SeatRow | None:
        return _seat(await self.db.fetchrow(f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1", seat_id))

    async def read_many(self, seat_ids: Sequence[int]) -> list[SeatRow]:
        sql = f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = ANY($1::bigint[]) ORDER BY id"
        return [SeatRow(*row) for row in await self.db.fetch(sql, list(seat_ids))]

    async def lock(self, seat_id: int) -> SeatRow | None:
        """X-lock the seat row (FOR UPDATE, bounded by lock_timeout). Never FOR SHARE: a shared
        lock later upgraded to a write deadlocks two holders of the same seat (the seed's warning)."""
        sql = f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1 FOR UPDATE"
        return _seat(await self.db.lock_fetchrow(sql, seat_id))

    async def pick_best_available(
        self, schedule_id: int, class_name: str, quantity: int, excluded: Sequence[int], among: int
    ) -> list[int]:
        """``quantity`` free seats of the class side by side in one row (consecutive numbers of
        one zone and row), or else the first ``quantity`` free seats of the class; fewer when
        fewer are free. No lock: the hold that follows decides.

        Runs of free seats are cut into blocks from their first seat (seats 1-2, 3-4, 5-6 of a
        run 1..6 for pairs), and one of the first ``among`` blocks is chosen at random: racing
        requests spread over distinct blocks instead of all taking the first, and the run stays
        cut where it was (no seat left alone between two pairs). ``excluded``: seats a racer
        took from this request's earlier picks."""
        sql = (
            "WITH free AS (SELECT id, zone_id, row, number, "
            "  number - row_number() OVER (PARTITION BY zone_id, row ORDER BY number) AS run "
            f"  FROM seats WHERE schedule_id = $1 AND class_name = $2 AND {SEAT_IS_FREE} "
            "  AND NOT (id = ANY($4::bigint[]))), "
            "runs AS (SELECT min(number) AS first, count(*) AS length FROM free GROUP BY zone_id, row, run "
            "  HAVING count(*) >= $3), "
            "blocks AS (SELECT runs.first + k * $3 AS start FROM runs "
            "  CROSS JOIN LATERAL generate_series(0, runs.length / $3 - 1) AS k ORDER BY 1 LIMIT $5), "
            "chosen AS (SELECT start FROM blocks ORDER BY random() LIMIT 1) "
            "SELECT free.id FROM free JOIN chosen ON free.number >= chosen.start AND free.number < chosen.start + $3 "
            "UNION ALL (SELECT id FROM free WHERE NOT EXISTS (SELECT 1 FROM chosen) ORDER BY number LIMIT $3)"
        )
        rows = await self.db.fetch(sql, schedule_id, class_name, quantity, list(excluded), among)
        return [row[0] for row in rows]

    async def mark_held(self, seat_id: int, hold: timedelta) -> SeatRow:
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 RETURNING {SEAT_COLUMNS}"
        return SeatRow(*required(await self.db.fetchrow(sql, seat_id, hold)))

    async def free_held(self, seat_ids: Sequence[int], *, lapsed_only: bool) -> None:
        """Put HELD seats back on sale: a released hold's seat, or (``lapsed_only``) the seats of
        expired holds whose time has run out — never one a newer hold has taken since."""
        lapsed = " AND held_until <= now()" if lapsed_only else ""
        sql = f"UPDATE seats SET {FREE_SEAT} WHERE id = ANY($1::bigint[]) AND status = 'HELD'{lapsed}"
        await self.db.execute(sql, list(seat_ids))

    async def free_sold(self, seat_ids: Sequence[int]) -> int:
        """Put SOLD seats back on sale (their sale was refunded); returns how many there were."""
        sql = f"UPDATE seats SET {FREE_SEAT} WHERE id = ANY($1::bigint[]) AND status = 'SOLD'"
        status = await self.db.execute(sql, list(seat_ids))
        return int(status.split()[-1])  # the command tag: "UPDATE <count>"

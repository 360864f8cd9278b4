"""The ``schedules`` and ``seats`` tables: every statement that writes them is here (the
one-statement payment composes the fragments of ``sql.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ticketing.core.db import Connection, required
from ticketing.core.locking import translate_db_errors
from ticketing.schedules.schemas import ScheduleOut, ScheduleSales, SeatBrief, SeatOut, SeatRow
from ticketing.schedules.sql import SEAT_IS_FREE, SEATS_OF_SCHEDULE


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime

    def is_open(self, now: datetime) -> bool:
        return self.reservation_opens_at <= now < self.reservation_closes_at


SCHEDULE_COLUMNS = (
    "schedules.id, schedules.concert_id, schedules.starts_at, "
    "schedules.reservation_opens_at, schedules.reservation_closes_at"
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
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, concert_id: int, starts_at: datetime, opens_at: datetime, closes_at: datetime) -> ScheduleRow:
        sql = (
            "INSERT INTO schedules (concert_id, starts_at, reservation_opens_at, reservation_closes_at) "
            f"VALUES ($1, $2, $3, $4) RETURNING {SCHEDULE_COLUMNS}"
        )
        with translate_db_errors():
            return ScheduleRow(*required(await self.conn.fetchrow(sql, concert_id, starts_at, opens_at, closes_at)))

    async def add_seats(self, schedule_id: int, seat_count: int, price: int) -> list[SeatBrief]:
        """Seats 1..seat_count in one statement (generate_series), whatever the count."""
        sql = (
            "INSERT INTO seats (schedule_id, number, price) SELECT $1, n, $3 FROM generate_series(1, $2::int) n "
            "RETURNING id, number, price"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, schedule_id, seat_count, price)
        return sorted((SeatBrief(*row) for row in rows), key=lambda seat: seat.number)

    async def earliest_opening(self, concert_id: int) -> datetime | None:
        sql = "SELECT min(reservation_opens_at) FROM schedules WHERE concert_id = $1"
        with translate_db_errors():
            value: datetime | None = await self.conn.fetchval(sql, concert_id)
        return value

    async def ids_of_concert(self, concert_id: int) -> list[int]:
        sql = "SELECT id FROM schedules WHERE concert_id = $1 ORDER BY id"
        with translate_db_errors():
            return [row[0] for row in await self.conn.fetch(sql, concert_id)]

    async def get(self, schedule_id: int) -> ScheduleRow | None:
        with translate_db_errors():
            row = await self.conn.fetchrow(f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1", schedule_id)
        return ScheduleRow(*row) if row else None

    async def open_with_seats_left(self, concert_id: int) -> list[ScheduleOut]:
        sql = (
            f"SELECT {SCHEDULE_COLUMNS}, free.available FROM schedules "
            f"CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE {SEAT_IS_FREE}) AS available {SEATS_OF_SCHEDULE}) free "
            "WHERE schedules.concert_id = $1 AND schedules.reservation_opens_at <= now() "
            "  AND schedules.reservation_closes_at > now() AND free.available > 0 "
            "ORDER BY schedules.starts_at, schedules.id"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, concert_id)
        return [ScheduleOut(*row) for row in rows]

    async def seats(self, schedule_id: int) -> list[SeatOut]:
        sql = f"SELECT id, schedule_id, number, price, {SEAT_IS_FREE} FROM seats WHERE schedule_id = $1 ORDER BY number"
        with translate_db_errors():
            rows = await self.conn.fetch(sql, schedule_id)
        return [SeatOut(*row) for row in rows]

    async def sales(self, concert_id: int) -> list[ScheduleSales]:
        """Seats available / held / sold and revenue per schedule, for the operator dashboard."""
        sql = (
            "SELECT schedules.id, schedules.starts_at, counts.* FROM schedules CROSS JOIN LATERAL ("
            f"  SELECT count(*) FILTER (WHERE {SEAT_IS_FREE}), "
            f"  count(*) FILTER (WHERE seats.status = 'HELD' AND NOT {SEAT_IS_FREE}), "
            "  count(*) FILTER (WHERE seats.status = 'SOLD'), "
            "  COALESCE(sum(seats.price) FILTER (WHERE seats.status = 'SOLD'), 0)::bigint "
            f"  {SEATS_OF_SCHEDULE}) counts "
            "WHERE schedules.concert_id = $1 ORDER BY schedules.starts_at, schedules.id"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, concert_id)
        return [ScheduleSales(*row) for row in rows]

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
        with translate_db_errors():
            return int(await self.conn.fetchval(sql, concert_id, most))

    async def concert_sold_out(self, concert_id: int) -> bool:
        """The concert has dates (each has seats) and no unsold seat: one round trip; the search
        for an unsold seat stops at the first it finds."""
        sql = (
            "SELECT EXISTS (SELECT 1 FROM schedules WHERE concert_id = $1) AND NOT EXISTS ("
            "  SELECT 1 FROM schedules CROSS JOIN LATERAL "
            f"  (SELECT 1 {SEATS_OF_SCHEDULE} AND seats.status <> 'SOLD' LIMIT 1) unsold "
            "  WHERE schedules.concert_id = $1)"
        )
        with translate_db_errors():
            return bool(await self.conn.fetchval(sql, concert_id))


class SeatRepository:
    """Seat rows of the hold path. The lock strategies of the lock study (``SeatLockStrategy``)
    differ only in how a free seat is taken: ``lock``/``mark_held``, ``claim_if_free`` or
    ``claim_if_unchanged``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def read(self, seat_id: int) -> SeatRow | None:
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1", seat_id))

    async def read_many(self, seat_ids: Sequence[int]) -> list[SeatRow]:
        sql = f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = ANY($1::bigint[]) ORDER BY id"
        with translate_db_errors():
            return [SeatRow(*row) for row in await self.conn.fetch(sql, list(seat_ids))]

    async def lock(self, seat_id: int) -> SeatRow | None:
        """X-lock the seat row (FOR UPDATE, bounded by lock_timeout). Never FOR SHARE: a shared
        lock later upgraded to a write deadlocks two holders of the same seat (the seed's warning)."""
        sql = f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1 FOR UPDATE"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat_id))

    async def lock_shared(self, seat_id: int) -> SeatRow | None:
        """The seed's S-lock (FOR SHARE), kept only to show why it is not used: two holders that
        both take it and then write the seat deadlock (tests/concurrency)."""
        sql = f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1 FOR SHARE"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat_id))

    async def claim_if_free(self, seat_id: int, hold: timedelta) -> SeatRow | None:
        """The conditional strategy: one UPDATE that only succeeds on a free seat."""
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 AND {SEAT_IS_FREE} RETURNING {SEAT_COLUMNS}"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat_id, hold))

    async def claim_if_unchanged(self, seat: SeatRow, hold: timedelta) -> SeatRow | None:
        """The optimistic strategy: write only if the seat's version is still the one we read."""
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 AND version = $3 RETURNING {SEAT_COLUMNS}"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat.id, hold, seat.version))

    async def mark_held(self, seat_id: int, hold: timedelta) -> SeatRow:
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 RETURNING {SEAT_COLUMNS}"
        with translate_db_errors():
            return SeatRow(*required(await self.conn.fetchrow(sql, seat_id, hold)))

    async def free_held(self, seat_ids: Sequence[int], *, lapsed_only: bool) -> None:
        """Put HELD seats back on sale: a released hold's seat, or (``lapsed_only``) the seats of
        expired holds whose time has run out — never one a newer hold has taken since."""
        lapsed = " AND held_until <= now()" if lapsed_only else ""
        sql = f"UPDATE seats SET {FREE_SEAT} WHERE id = ANY($1::bigint[]) AND status = 'HELD'{lapsed}"
        with translate_db_errors():
            await self.conn.execute(sql, list(seat_ids))

    async def free_sold(self, seat_ids: Sequence[int]) -> int:
        """Put SOLD seats back on sale (their sale was refunded); returns how many there were."""
        sql = f"UPDATE seats SET {FREE_SEAT} WHERE id = ANY($1::bigint[]) AND status = 'SOLD'"
        with translate_db_errors():
            status = await self.conn.execute(sql, list(seat_ids))
        return int(status.split()[-1])  # the command tag: "UPDATE <count>"

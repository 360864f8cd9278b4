from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing.core.db import Connection, required
from ticketing.core.locking import translate_db_errors
from ticketing.schedules.schemas import ScheduleOut, ScheduleSales, SeatBrief, SeatOut
from ticketing.schedules.seat_sql import SEAT_IS_FREE, SEATS_OF_SCHEDULE


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

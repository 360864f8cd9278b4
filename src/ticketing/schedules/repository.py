from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Integer, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.core.locking import translate_db_errors
from ticketing.schedules.models import Schedule, Seat, seat_is_free
from ticketing.schedules.schemas import ScheduleOut, ScheduleSales, SeatBrief, SeatOut


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime

    def is_open(self, now: datetime) -> bool:
        return self.reservation_opens_at <= now < self.reservation_closes_at


_schedule_columns = (
    Schedule.id,
    Schedule.concert_id,
    Schedule.starts_at,
    Schedule.reservation_opens_at,
    Schedule.reservation_closes_at,
)


class ScheduleRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, concert_id: int, starts_at: datetime, opens_at: datetime, closes_at: datetime) -> ScheduleRow:
        stmt = (
            insert(Schedule)
            .values(
                concert_id=concert_id,
                starts_at=starts_at,
                reservation_opens_at=opens_at,
                reservation_closes_at=closes_at,
            )
            .returning(*_schedule_columns)
        )
        with translate_db_errors():
            return ScheduleRow(*(await self.conn.execute(stmt)).one())

    async def add_seats(self, schedule_id: int, seat_count: int, price: int) -> list[SeatBrief]:
        """Seats 1..seat_count in one statement (generate_series), whatever the count."""
        numbers = select(func.generate_series(1, seat_count).label("number")).subquery()
        stmt = (
            insert(Seat)
            .from_select(
                ["schedule_id", "number", "price"],
                select(literal(schedule_id), numbers.c.number.cast(Integer), literal(price)),
            )
            .returning(Seat.id, Seat.number, Seat.price)
        )
        with translate_db_errors():
            rows = (await self.conn.execute(stmt)).all()
        return sorted((SeatBrief(*row) for row in rows), key=lambda seat: seat.number)

    async def get(self, schedule_id: int) -> ScheduleRow | None:
        with translate_db_errors():
            row = (await self.conn.execute(select(*_schedule_columns).where(Schedule.id == schedule_id))).first()
        return ScheduleRow(*row) if row else None

    async def open_with_seats_left(self, concert_id: int) -> list[ScheduleOut]:
        available = func.count().filter(seat_is_free())
        stmt = (
            select(*_schedule_columns, available)
            .join(Seat, Seat.schedule_id == Schedule.id)
            .where(
                Schedule.concert_id == concert_id,
                Schedule.reservation_opens_at <= func.now(),
                Schedule.reservation_closes_at > func.now(),
            )
            .group_by(Schedule.id)
            .having(available > 0)
            .order_by(Schedule.starts_at, Schedule.id)
        )
        with translate_db_errors():
            rows = (await self.conn.execute(stmt)).all()
        return [ScheduleOut(*row) for row in rows]

    async def seats(self, schedule_id: int) -> list[SeatOut]:
        stmt = (
            select(Seat.id, Seat.schedule_id, Seat.number, Seat.price, seat_is_free())
            .where(Seat.schedule_id == schedule_id)
            .order_by(Seat.number)
        )
        with translate_db_errors():
            rows = (await self.conn.execute(stmt)).all()
        return [SeatOut(*row) for row in rows]

    async def sales(self, concert_id: int) -> list[ScheduleSales]:
        """Seats available / held / sold and revenue per schedule, for the operator dashboard."""
        free = seat_is_free()
        stmt = (
            select(
                Schedule.id,
                Schedule.starts_at,
                func.count(Seat.id).filter(free),
                func.count(Seat.id).filter(Seat.status == "HELD", ~free),
                func.count(Seat.id).filter(Seat.status == "SOLD"),
                func.coalesce(func.sum(Seat.price).filter(Seat.status == "SOLD"), 0).cast(BigInteger),
            )
            .join(Seat, Seat.schedule_id == Schedule.id)
            .where(Schedule.concert_id == concert_id)
            .group_by(Schedule.id)
            .order_by(Schedule.starts_at, Schedule.id)
        )
        with translate_db_errors():
            rows = (await self.conn.execute(stmt)).all()
        return [ScheduleSales(*row) for row in rows]

    async def concert_sold_out(self, concert_id: int) -> bool:
        unsold = (
            select(Seat.id)
            .join(Schedule, Schedule.id == Seat.schedule_id)
            .where(Schedule.concert_id == concert_id, Seat.status != "SOLD")
        )
        any_seat = (
            select(Seat.id).join(Schedule, Schedule.id == Seat.schedule_id).where(Schedule.concert_id == concert_id)
        )
        with translate_db_errors():
            has_seats = bool(await self.conn.scalar(select(exists(any_seat))))
            has_unsold = bool(await self.conn.scalar(select(exists(unsold))))
        return has_seats and not has_unsold

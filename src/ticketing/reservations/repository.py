from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.core.locking import translate_db_errors
from ticketing.reservations.errors import SeatUnavailable
from ticketing.reservations.models import Reservation
from ticketing.schedules.models import Seat, seat_is_free

# Advisory lock keys live in their own range so they never collide with another use.
USER_HOLDS_LOCK_BASE = 1 << 48


@dataclass(frozen=True, slots=True)
class SeatRow:
    id: int
    schedule_id: int
    number: int
    price: int
    status: str
    held_until: datetime | None
    version: int
    free: bool  # available, or held with a lapsed hold (as of the transaction's now())


@dataclass(frozen=True, slots=True)
class ReservationRow:
    id: int
    seat_id: int
    schedule_id: int
    user_id: int
    status: str
    price: int
    held_until: datetime
    version: int
    seat_number: int


@dataclass(frozen=True, slots=True)
class ExpiredHold:
    reservation_id: int
    seat_id: int
    schedule_id: int


_seat_columns = (
    Seat.id,
    Seat.schedule_id,
    Seat.number,
    Seat.price,
    Seat.status,
    Seat.held_until,
    Seat.version,
    seat_is_free().label("free"),
)
_reservation_columns = (
    Reservation.id,
    Reservation.seat_id,
    Reservation.schedule_id,
    Reservation.user_id,
    Reservation.status,
    Reservation.price,
    Reservation.held_until,
    Reservation.version,
    Seat.number,
)


class ReservationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- holds -------------------------------------------------------------------------------

    async def lock_user_holds(self, user_id: int) -> None:
        """Serialise one user's holds (transaction-scoped advisory lock) so the per-user cap
        holds under concurrency. Taken first: user -> seat -> wallet."""
        with translate_db_errors():
            await self.conn.execute(select(func.pg_advisory_xact_lock(USER_HOLDS_LOCK_BASE + user_id)))

    async def count_live_holds(self, user_id: int) -> int:
        stmt = select(func.count()).where(
            Reservation.user_id == user_id, Reservation.status == "HELD", Reservation.held_until > func.now()
        )
        with translate_db_errors():
            return int(await self.conn.scalar(stmt) or 0)

    async def read_seat(self, seat_id: int) -> SeatRow | None:
        with translate_db_errors():
            row = (await self.conn.execute(select(*_seat_columns).where(Seat.id == seat_id))).first()
        return SeatRow(*row) if row else None

    async def lock_seat(self, seat_id: int) -> SeatRow | None:
        """X-lock the seat row (FOR UPDATE, bounded by lock_timeout). Never FOR SHARE: a shared
        lock later upgraded to a write deadlocks two holders of the same seat (the seed's warning)."""
        with translate_db_errors():
            row = (await self.conn.execute(select(*_seat_columns).where(Seat.id == seat_id).with_for_update())).first()
        return SeatRow(*row) if row else None

    async def claim_seat_if_free(self, seat_id: int, hold: timedelta) -> SeatRow | None:
        """The conditional strategy: one UPDATE that only succeeds on a free seat."""
        stmt = (
            update(Seat)
            .where(Seat.id == seat_id, seat_is_free())
            .values(status="HELD", held_until=func.now() + hold, version=Seat.version + 1)
            .returning(*_seat_columns)
        )
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return SeatRow(*tuple(row)) if row else None

    async def claim_seat_if_unchanged(self, seat: SeatRow, hold: timedelta) -> SeatRow | None:
        """The optimistic strategy: write only if the seat's version is still the one we read."""
        stmt = (
            update(Seat)
            .where(Seat.id == seat.id, Seat.version == seat.version)
            .values(status="HELD", held_until=func.now() + hold, version=Seat.version + 1)
            .returning(*_seat_columns)
        )
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return SeatRow(*tuple(row)) if row else None

    async def mark_seat_held(self, seat_id: int, hold: timedelta) -> SeatRow:
        stmt = (
            update(Seat)
            .where(Seat.id == seat_id)
            .values(status="HELD", held_until=func.now() + hold, version=Seat.version + 1)
            .returning(*_seat_columns)
        )
        with translate_db_errors():
            return SeatRow(*tuple((await self.conn.execute(stmt)).one()))

    async def expire_lapsed_hold(self, seat_id: int) -> None:
        """A hold whose time ran out frees its seat for the next hold at once, sweeper or not."""
        stmt = (
            update(Reservation)
            .where(Reservation.seat_id == seat_id, Reservation.status == "HELD", Reservation.held_until <= func.now())
            .values(status="EXPIRED", version=Reservation.version + 1, updated_at=func.now())
        )
        with translate_db_errors():
            await self.conn.execute(stmt)

    async def insert_hold(self, user_id: int, seat: SeatRow) -> int:
        assert seat.held_until is not None
        stmt = (
            insert(Reservation)
            .values(
                user_id=user_id,
                seat_id=seat.id,
                schedule_id=seat.schedule_id,
                status="HELD",
                price=seat.price,
                held_until=seat.held_until,
            )
            .returning(Reservation.id)
        )
        with translate_db_errors():
            try:
                async with self.conn.begin_nested():
                    return int((await self.conn.execute(stmt)).scalar_one())
            except IntegrityError as error:  # the partial unique index caught a double booking
                raise SeatUnavailable() from error

    # -- reservations ------------------------------------------------------------------------

    async def get(self, reservation_id: int, *, for_update: bool = False) -> ReservationRow | None:
        stmt = (
            select(*_reservation_columns)
            .join(Seat, Seat.id == Reservation.seat_id)
            .where(Reservation.id == reservation_id)
        )
        if for_update:
            stmt = stmt.with_for_update(of=Reservation)
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return ReservationRow(*row) if row else None

    async def page_of_user(self, user_id: int, before_id: int | None, limit: int) -> list[ReservationRow]:
        stmt = (
            select(*_reservation_columns)
            .join(Seat, Seat.id == Reservation.seat_id)
            .where(Reservation.user_id == user_id)
        )
        if before_id is not None:
            stmt = stmt.where(Reservation.id < before_id)
        with translate_db_errors():
            rows = (await self.conn.execute(stmt.order_by(Reservation.id.desc()).limit(limit))).all()
        return [ReservationRow(*row) for row in rows]

    async def cancel(self, reservation: ReservationRow) -> None:
        with translate_db_errors():
            await self.conn.execute(
                update(Reservation)
                .where(Reservation.id == reservation.id)
                .values(status="CANCELLED", version=Reservation.version + 1, updated_at=func.now())
            )
            await self.conn.execute(
                update(Seat)
                .where(Seat.id == reservation.seat_id, Seat.status == "HELD")
                .values(status="AVAILABLE", held_until=None, version=Seat.version + 1)
            )

    async def confirm(self, reservation: ReservationRow) -> bool:
        """Optimistic: succeeds only if nobody changed the reservation since we read it and the
        hold is still live. The losing side of a race sees 0 rows and re-reads."""
        stmt = (
            update(Reservation)
            .where(
                Reservation.id == reservation.id,
                Reservation.version == reservation.version,
                Reservation.status == "HELD",
                Reservation.held_until > func.now(),
            )
            .values(status="CONFIRMED", version=Reservation.version + 1, updated_at=func.now())
            .returning(Reservation.id)
        )
        with translate_db_errors():
            return (await self.conn.execute(stmt)).first() is not None

    async def sell_seat(self, seat_id: int) -> None:
        with translate_db_errors():
            await self.conn.execute(
                update(Seat).where(Seat.id == seat_id).values(status="SOLD", held_until=None, version=Seat.version + 1)
            )

    async def now(self) -> datetime:
        with translate_db_errors():
            return (await self.conn.execute(select(func.now()))).scalar_one()

    # -- sweeper -----------------------------------------------------------------------------

    async def expire_lapsed_batch(self, limit: int) -> list[ExpiredHold]:
        """Mark up to ``limit`` lapsed holds EXPIRED and free their seats. SKIP LOCKED: a hold
        being paid right now is left to the payment, and many sweepers never block each other."""
        lapsed = (
            select(Reservation.id)
            .where(Reservation.status == "HELD", Reservation.held_until <= func.now())
            .order_by(Reservation.held_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(Reservation)
            .where(Reservation.id.in_(lapsed))
            .values(status="EXPIRED", version=Reservation.version + 1, updated_at=func.now())
            .returning(Reservation.id, Reservation.seat_id, Reservation.schedule_id)
        )
        with translate_db_errors():
            expired = [ExpiredHold(*row) for row in (await self.conn.execute(stmt)).all()]
            if expired:
                await self.conn.execute(
                    update(Seat)
                    .where(
                        Seat.id.in_([e.seat_id for e in expired]),
                        Seat.status == "HELD",
                        Seat.held_until <= func.now(),
                    )
                    .values(status="AVAILABLE", held_until=None, version=Seat.version + 1)
                )
        return expired

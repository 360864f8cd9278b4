from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ticketing.core.db import Connection, required
from ticketing.core.locking import translate_db_errors
from ticketing.reservations.errors import SeatUnavailable
from ticketing.reservations.schemas import AccountHolds, AddressHolds
from ticketing.schedules.seat_sql import SEAT_IS_FREE

# Advisory lock keys live in their own range so they never collide with another use.
USER_HOLDS_LOCK_BASE = 1 << 48
# The per-address locks use PostgreSQL's two-key form, a key space apart from the one-key locks
# above: this constant (ASCII "ADDR") and a hash of (schedule, address). Two pairs that share a
# hash only wait for each other, a cost and never a wrong count.
ADDRESS_HOLDS_LOCK_SPACE = 0x41444452


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
    seat_number: int
    lapsed: bool = False  # HELD, but ``held_until`` has passed (as of the statement's now())

    @property
    def shown_status(self) -> str:
        """What a fan sees: a lapsed hold is EXPIRED at once, whether or not a sweeper or the
        seat's next hold has written that yet."""
        return "EXPIRED" if self.lapsed else self.status


@dataclass(frozen=True, slots=True)
class ExpiredHold:
    reservation_id: int
    seat_id: int
    schedule_id: int


SEAT_COLUMNS = (
    "seats.id, seats.schedule_id, seats.number, seats.price, seats.status, seats.held_until, seats.version, "
    f"{SEAT_IS_FREE} AS free"
)
RESERVATION_COLUMNS = (
    "reservations.id, reservations.seat_id, reservations.schedule_id, reservations.user_id, reservations.status, "
    "reservations.price, reservations.held_until, seats.number, "
    "(reservations.status = 'HELD' AND reservations.held_until <= now()) AS lapsed"
)
HOLD_SEAT = "status = 'HELD', held_until = now() + $2::interval, version = seats.version + 1"
FREE_SEAT = "status = 'AVAILABLE', held_until = NULL, version = seats.version + 1"


def _seat(row: asyncpg.Record | None) -> SeatRow | None:
    return SeatRow(*row) if row is not None else None


class ReservationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- holds -------------------------------------------------------------------------------

    async def lock_user_holds(self, user_id: int) -> None:
        """Serialise one user's holds (transaction-scoped advisory lock) so the per-user cap
        holds under concurrency. Taken first: user -> seat -> wallet."""
        with translate_db_errors():
            await self.conn.execute("SELECT pg_advisory_xact_lock($1)", USER_HOLDS_LOCK_BASE + user_id)

    async def count_live_holds(self, user_id: int) -> int:
        sql = "SELECT count(*) FROM reservations WHERE user_id = $1 AND status = 'HELD' AND held_until > now()"
        with translate_db_errors():
            return int(await self.conn.fetchval(sql, user_id))

    async def lock_address_holds(self, schedule_id: int, address: str) -> None:
        """Serialise the holds of one date from one client address (per-address cap), whatever
        the accounts. Taken after the user's lock and before the seat: user -> address -> seat."""
        sql = "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))"
        with translate_db_errors():
            await self.conn.execute(sql, ADDRESS_HOLDS_LOCK_SPACE, f"{schedule_id}/{address}")

    async def count_live_holds_from(self, schedule_id: int, address: str) -> int:
        sql = (
            "SELECT count(*) FROM reservations WHERE schedule_id = $1 AND client_address = $2 "
            "AND status = 'HELD' AND held_until > now()"
        )
        with translate_db_errors():
            return int(await self.conn.fetchval(sql, schedule_id, address))

    async def top_addresses(self, concert_id: int, limit: int) -> list[AddressHolds]:
        sql = (
            "SELECT r.schedule_id, r.client_address, count(*) AS holds, count(DISTINCT r.user_id) AS accounts "
            "FROM reservations r JOIN schedules s ON s.id = r.schedule_id "
            "WHERE s.concert_id = $1 AND r.status = 'HELD' AND r.held_until > now() AND r.client_address IS NOT NULL "
            "GROUP BY r.schedule_id, r.client_address ORDER BY holds DESC, accounts DESC, r.schedule_id, "
            "r.client_address LIMIT $2"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, concert_id, limit)
        return [AddressHolds(schedule_id=r[0], address=r[1], holds=r[2], accounts=r[3]) for r in rows]

    async def top_accounts(self, concert_id: int, limit: int) -> list[AccountHolds]:
        sql = (
            "SELECT r.user_id, u.name, count(*) AS holds "
            "FROM reservations r JOIN schedules s ON s.id = r.schedule_id JOIN users u ON u.id = r.user_id "
            "WHERE s.concert_id = $1 AND r.status = 'HELD' AND r.held_until > now() "
            "GROUP BY r.user_id, u.name ORDER BY holds DESC, r.user_id LIMIT $2"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, concert_id, limit)
        return [AccountHolds(user_id=r[0], name=r[1], holds=r[2]) for r in rows]

    async def live_hold_until(self, user_id: int, concert_id: int) -> datetime | None:
        """When the user's latest live hold in the concert ends; None without one."""
        sql = (
            "SELECT max(reservations.held_until) FROM reservations "
            "JOIN schedules ON schedules.id = reservations.schedule_id "
            "WHERE reservations.user_id = $1 AND schedules.concert_id = $2 "
            "AND reservations.status = 'HELD' AND reservations.held_until > now()"
        )
        with translate_db_errors():
            value: datetime | None = await self.conn.fetchval(sql, user_id, concert_id)
        return value

    async def read_seat(self, seat_id: int) -> SeatRow | None:
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1", seat_id))

    async def lock_seat(self, seat_id: int) -> SeatRow | None:
        """X-lock the seat row (FOR UPDATE, bounded by lock_timeout). Never FOR SHARE: a shared
        lock later upgraded to a write deadlocks two holders of the same seat (the seed's warning)."""
        sql = f"SELECT {SEAT_COLUMNS} FROM seats WHERE id = $1 FOR UPDATE"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat_id))

    async def claim_seat_if_free(self, seat_id: int, hold: timedelta) -> SeatRow | None:
        """The conditional strategy: one UPDATE that only succeeds on a free seat."""
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 AND {SEAT_IS_FREE} RETURNING {SEAT_COLUMNS}"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat_id, hold))

    async def claim_seat_if_unchanged(self, seat: SeatRow, hold: timedelta) -> SeatRow | None:
        """The optimistic strategy: write only if the seat's version is still the one we read."""
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 AND version = $3 RETURNING {SEAT_COLUMNS}"
        with translate_db_errors():
            return _seat(await self.conn.fetchrow(sql, seat.id, hold, seat.version))

    async def mark_seat_held(self, seat_id: int, hold: timedelta) -> SeatRow:
        sql = f"UPDATE seats SET {HOLD_SEAT} WHERE id = $1 RETURNING {SEAT_COLUMNS}"
        with translate_db_errors():
            return SeatRow(*required(await self.conn.fetchrow(sql, seat_id, hold)))

    async def expire_lapsed_hold(self, seat_id: int) -> None:
        """A hold whose time ran out frees its seat for the next hold at once, sweeper or not."""
        sql = (
            "UPDATE reservations SET status = 'EXPIRED', version = version + 1, updated_at = now() "
            "WHERE seat_id = $1 AND status = 'HELD' AND held_until <= now()"
        )
        with translate_db_errors():
            await self.conn.execute(sql, seat_id)

    async def insert_hold(self, user_id: int, seat: SeatRow, client_address: str | None = None) -> ReservationRow:
        """The new HELD reservation. A double booking that got past every lock is refused by the
        partial unique index: the statement fails, and with it the caller's transaction."""
        assert seat.held_until is not None
        sql = (
            "INSERT INTO reservations (user_id, seat_id, schedule_id, status, price, held_until, client_address) "
            "VALUES ($1, $2, $3, 'HELD', $4, $5, $6) "
            "RETURNING id, seat_id, schedule_id, user_id, status, price, held_until"
        )
        with translate_db_errors():
            try:
                row = required(
                    await self.conn.fetchrow(
                        sql, user_id, seat.id, seat.schedule_id, seat.price, seat.held_until, client_address
                    )
                )
            except asyncpg.UniqueViolationError as error:
                raise SeatUnavailable() from error
        reservation_id, seat_id, schedule_id, owner, status, price, held_until = row
        return ReservationRow(reservation_id, seat_id, schedule_id, owner, status, price, held_until, seat.number)

    # -- reservations ------------------------------------------------------------------------

    async def get(self, reservation_id: int, *, for_update: bool = False) -> ReservationRow | None:
        sql = (
            f"SELECT {RESERVATION_COLUMNS} FROM reservations JOIN seats ON seats.id = reservations.seat_id "
            f"WHERE reservations.id = $1{' FOR UPDATE OF reservations' if for_update else ''}"
        )
        with translate_db_errors():
            row = await self.conn.fetchrow(sql, reservation_id)
        return ReservationRow(*row) if row else None

    async def page_of_user(self, user_id: int, before_id: int, limit: int) -> list[ReservationRow]:
        sql = (
            f"SELECT {RESERVATION_COLUMNS} FROM reservations JOIN seats ON seats.id = reservations.seat_id "
            "WHERE reservations.user_id = $1 AND reservations.id < $2 "
            "ORDER BY reservations.id DESC LIMIT $3"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, user_id, before_id, limit)
        return [ReservationRow(*row) for row in rows]

    async def cancel(self, reservation: ReservationRow) -> None:
        with translate_db_errors():
            await self.conn.execute(
                "UPDATE reservations SET status = 'CANCELLED', version = version + 1, updated_at = now() WHERE id = $1",
                reservation.id,
            )
            await self.conn.execute(
                f"UPDATE seats SET {FREE_SEAT} WHERE id = $1 AND status = 'HELD'", reservation.seat_id
            )

    # -- sweeper -----------------------------------------------------------------------------

    async def expire_lapsed_batch(self, limit: int) -> list[ExpiredHold]:
        """Mark up to ``limit`` lapsed holds EXPIRED and free their seats. SKIP LOCKED: a hold
        being paid right now is left to the payment, and many sweepers never block each other."""
        expire = (
            "UPDATE reservations SET status = 'EXPIRED', version = version + 1, updated_at = now() "
            "WHERE id IN (SELECT id FROM reservations WHERE status = 'HELD' AND held_until <= now() "
            "             ORDER BY held_until LIMIT $1 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, seat_id, schedule_id"
        )
        free = f"UPDATE seats SET {FREE_SEAT} WHERE id = ANY($1::bigint[]) AND status = 'HELD' AND held_until <= now()"
        with translate_db_errors():
            expired = [ExpiredHold(*row) for row in await self.conn.fetch(expire, limit)]
            if expired:
                await self.conn.execute(free, [e.seat_id for e in expired])
        return expired

"""The ``reservations`` table: every statement that writes it is here (the one-statement payment
composes the fragments of ``sql.py``). Seats are the schedules domain's: a hold takes its seat
through ``ScheduleService`` in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ticketing.kernel.db import Database, required
from ticketing.reservations.errors import HELD_TWICE, SeatUnavailable
from ticketing.reservations.schemas import AddressHolds
from ticketing.schedules.schemas import SeatRow
from ticketing.schedules.sql import window_open

# Advisory lock keys live in their own range so they never collide with another use.
USER_HOLDS_LOCK_BASE = 1 << 48
# The per-address locks use PostgreSQL's two-key form, a key space apart from the one-key locks
# above: this constant (ASCII "ADDR") and a hash of (schedule, address). Two pairs that share a
# hash only wait for each other, a cost and never a wrong count.
ADDRESS_HOLDS_LOCK_SPACE = 0x41444452


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
class FanSeats:
    live_holds: int  # live (not lapsed) HELD reservations of every date
    held: int  # live HELD reservations of the date asked about
    paid: int  # CONFIRMED reservations of that date
    date_open: bool  # the date's reservation window is open now, as the database says


@dataclass(frozen=True, slots=True)
class ExpiredHold:
    reservation_id: int
    seat_id: int
    schedule_id: int


RESERVATION_COLUMNS = (
    "reservations.id, reservations.seat_id, reservations.schedule_id, reservations.user_id, reservations.status, "
    "reservations.price, reservations.held_until, reservations.seat_number, "
    "(reservations.status = 'HELD' AND reservations.held_until <= now()) AS lapsed"
)


class ReservationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- holds -------------------------------------------------------------------------------

    async def lock_user_holds(self, user_id: int) -> None:
        """Serialise one user's holds (transaction-scoped advisory lock) so the per-user cap
        holds under concurrency. Taken first: user -> seat -> wallet."""
        await self.db.lock_execute("SELECT pg_advisory_xact_lock($1)", USER_HOLDS_LOCK_BASE + user_id)

    async def count_fan_seats(self, user_id: int, schedule_id: int) -> FanSeats:
        """What the fan's caps count, in one statement: their live holds of every date (the per-user
        hold cap) and their live holds and paid seats of this date (the per-fan ticket limit).
        Each part reads an index of its own: ``ix_reservations_user_id_status`` and the partial
        ``ix_reservations_user_id_schedule_id_live``; refunded, cancelled, expired and lapsed rows
        are not counted. The same statement says whether the date is open now (one primary-key
        read of its schedule), so a hold needs no round trip more to ask the database that."""
        sql = (
            "SELECT (SELECT count(*) FROM reservations WHERE user_id = $1 AND status = 'HELD' AND held_until > now()), "
            "count(*) FILTER (WHERE status = 'HELD' AND held_until > now()), "
            "count(*) FILTER (WHERE status = 'CONFIRMED'), "
            f"{window_open('$2')} "
            "FROM reservations WHERE user_id = $1 AND schedule_id = $2 AND status IN ('HELD', 'CONFIRMED')"
        )
        row = required(await self.db.fetchrow(sql, user_id, schedule_id))  # an aggregate: always one row
        return FanSeats(live_holds=row[0], held=row[1], paid=row[2], date_open=row[3])

    async def count_refunds(self, user_id: int, schedule_id: int) -> int:
        """The fan's refunded reservations of one date (``ix_reservations_user_id_status``)."""
        sql = "SELECT count(*) FROM reservations WHERE user_id = $1 AND status = 'REFUNDED' AND schedule_id = $2"
        return int(await self.db.fetchval(sql, user_id, schedule_id))

    async def lock_address_holds(self, schedule_id: int, address: str) -> None:
        """Serialise the holds of one date from one client address (per-address cap), whatever
        the accounts. Taken after the user's lock and before the seat: user -> address -> seat."""
        sql = "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))"
        await self.db.lock_execute(sql, ADDRESS_HOLDS_LOCK_SPACE, f"{schedule_id}/{address}")

    async def count_live_holds_from(self, schedule_id: int, address: str) -> int:
        sql = (
            "SELECT count(*) FROM reservations WHERE schedule_id = $1 AND client_address = $2 "
            "AND status = 'HELD' AND held_until > now()"
        )
        return int(await self.db.fetchval(sql, schedule_id, address))

    async def top_addresses(self, schedule_ids: Sequence[int], limit: int) -> list[AddressHolds]:
        sql = (
            "SELECT schedule_id, client_address, count(*) AS holds, count(DISTINCT user_id) AS accounts "
            "FROM reservations WHERE schedule_id = ANY($1::bigint[]) AND status = 'HELD' AND held_until > now() "
            "AND client_address IS NOT NULL GROUP BY schedule_id, client_address "
            "ORDER BY holds DESC, accounts DESC, schedule_id, client_address LIMIT $2"
        )
        rows = await self.db.fetch(sql, list(schedule_ids), limit)
        return [AddressHolds(schedule_id=r[0], address=r[1], holds=r[2], accounts=r[3]) for r in rows]

    async def top_accounts(self, schedule_ids: Sequence[int], limit: int) -> list[tuple[int, int]]:
        """(user id, live holds) of the accounts with the most live holds, most first."""
        sql = (
            "SELECT user_id, count(*) AS holds FROM reservations "
            "WHERE schedule_id = ANY($1::bigint[]) AND status = 'HELD' AND held_until > now() "
            "GROUP BY user_id ORDER BY holds DESC, user_id LIMIT $2"
        )
        rows = await self.db.fetch(sql, list(schedule_ids), limit)
        return [(r[0], r[1]) for r in rows]

    async def live_hold_until(self, user_id: int, schedule_ids: Sequence[int]) -> datetime | None:
        """When the user's latest live hold among these schedules ends; None without one."""
        sql = (
            "SELECT max(held_until) FROM reservations WHERE user_id = $1 AND schedule_id = ANY($2::bigint[]) "
            "AND status = 'HELD' AND held_until > now()"
        )
        value: datetime | None = await self.db.fetchval(sql, user_id, list(schedule_ids))
        return value

    async def expire_lapsed_holds(self, seat_ids: Sequence[int]) -> None:
        """A hold whose time ran out frees its seat for the next hold at once, sweeper or not."""
        sql = (
            "UPDATE reservations SET status = 'EXPIRED', updated_at = now() "
            "WHERE seat_id = ANY($1::bigint[]) AND status = 'HELD' AND held_until <= now()"
        )
        await self.db.execute(sql, list(seat_ids))

    async def insert_holds(
        self, user_id: int, seats: Sequence[SeatRow], client_address: str | None = None
    ) -> list[ReservationRow]:
        """The new HELD reservations, in the order of ``seats``. A double booking that got past
        every lock is refused by the partial unique index: the statement fails, and with it the
        caller's transaction."""
        sql = (
            "INSERT INTO reservations (user_id, seat_id, schedule_id, seat_number, status, price, held_until, "
            "client_address) "
            "SELECT $1, seat.id, seat.schedule_id, seat.number, 'HELD', seat.price, seat.held_until, $7 "
            "FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::bigint[], $6::timestamptz[]) "
            "WITH ORDINALITY AS seat(id, schedule_id, number, price, held_until, n) ORDER BY seat.n "
            "RETURNING id, seat_id, schedule_id, user_id, status, price, held_until, seat_number"
        )
        columns = (
            [s.id for s in seats],
            [s.schedule_id for s in seats],
            [s.number for s in seats],
            [s.price for s in seats],
            [s.held_until for s in seats],
        )
        try:
            rows = await self.db.fetch(sql, user_id, *columns, client_address)
        except asyncpg.UniqueViolationError as error:
            raise SeatUnavailable(reason=HELD_TWICE) from error
        by_seat = {row[1]: ReservationRow(*row) for row in rows}
        return [by_seat[seat.id] for seat in seats]

    # -- reservations ------------------------------------------------------------------------

    async def get(self, reservation_id: int, *, for_update: bool = False) -> ReservationRow | None:
        sql = (
            f"SELECT {RESERVATION_COLUMNS} FROM reservations "
            f"WHERE reservations.id = $1{' FOR UPDATE' if for_update else ''}"
        )
        row = await (self.db.lock_fetchrow if for_update else self.db.fetchrow)(sql, reservation_id)
        return ReservationRow(*row) if row else None

    async def page_of_user(self, user_id: int, before_id: int, limit: int) -> list[ReservationRow]:
        sql = (
            f"SELECT {RESERVATION_COLUMNS} FROM reservations "
            "WHERE reservations.user_id = $1 AND reservations.id < $2 "
            "ORDER BY reservations.id DESC LIMIT $3"
        )
        rows = await self.db.fetch(sql, user_id, before_id, limit)
        return [ReservationRow(*row) for row in rows]

    async def cancel(self, reservation_id: int) -> None:
        sql = "UPDATE reservations SET status = 'CANCELLED', updated_at = now() WHERE id = $1"
        await self.db.execute(sql, reservation_id)

    async def refund(self, reservation_id: int) -> int | None:
        """CONFIRMED -> REFUNDED (its payment was refunded); the seat id, or None when it was not
        CONFIRMED. The row lock is the refund's: it follows the payment's and precedes the seat's."""
        sql = (
            "UPDATE reservations SET status = 'REFUNDED', updated_at = now() "
            "WHERE id = $1 AND status = 'CONFIRMED' RETURNING seat_id"
        )
        seat_id: int | None = await self.db.fetchval(sql, reservation_id)
        return seat_id

    # -- sweeper -----------------------------------------------------------------------------

    async def expire_lapsed_batch(self, limit: int) -> list[ExpiredHold]:
        """Mark up to ``limit`` lapsed holds EXPIRED (the caller frees their seats). SKIP LOCKED: a
        hold being paid right now is left to the payment, and many sweepers never block each other."""
        expire = (
            "UPDATE reservations SET status = 'EXPIRED', updated_at = now() "
            "WHERE id IN (SELECT id FROM reservations WHERE status = 'HELD' AND held_until <= now() "
            "             ORDER BY held_until LIMIT $1 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, seat_id, schedule_id"
        )
        return [ExpiredHold(*row) for row in await self.db.lock_fetch(expire, limit)]

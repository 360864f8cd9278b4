"""The ``payments`` table, and the one statement that settles a payment across the reservation,
seat, wallet, ledger and ticket tables. The statement is composed from fragments
that each table's owner exports (``reservations/sql.py``, ``schedules/sql.py``, ``wallets/sql.py``,
``tickets/sql.py``): this domain writes only its own ``payments`` row. One statement is what
keeps every row lock short, and what makes a paid reservation always have its ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing.kernel.db import Database, WarmStatement, required
from ticketing.payments.schemas import OrderLine, PaymentOut, RefundOut, SalesPoint
from ticketing.reservations import sql as reservations_sql
from ticketing.schedules import sql as seats_sql
from ticketing.tickets import sql as tickets_sql
from ticketing.wallets import sql as wallets_sql

COLUMNS = "id, reservation_id, user_id, amount, paid_at, status"

# Parameters: $1 the reservation id (or ids, distinct), $2 payer, $3 concert. All or nothing.
# Locks in the shared order reservations -> seats (each by ascending id) -> wallet, each data
# change chained to the one before it so that nothing is written unless everything can be:
#   reservation  the caller's live HELD holds of this concert among $1, X-locked (a racing payer or
#                the expiry sweeper waits, then finds them no longer HELD: exactly one wins);
#   seat         their seats, X-locked;
#   debited      the wallet, debited by the total only if every reservation of $1 is payable and
#                the balance covers the total;
#   confirmed, sold, paid, entry, ticket  only from a debit: CONFIRMED, SOLD, the payment rows
#                (UNIQUE per reservation), their PAYMENT ledger rows and their tickets (UNIQUE per
#                payment).
# The rows: each payable reservation, with its payment when the debit happened. Fewer rows than
# ids: something is not payable (the caller says why from a re-read); rows without payments: the
# wallet is missing or short. Either way nothing was changed. The CHECK on the balance is the
# backstop. The last column: as of this statement every other seat of the concert is sold — this
# payment may have sold the concert out.


def _settle(ids: str, count: str) -> str:
    """The statement above, for reservation ids matching ``ids`` (``count`` of them)."""
    return f"""
WITH reservation AS ({reservations_sql.live_holds_for_update(ids, "$2", seats_sql.schedules_of_concert("$3"))}
), seat AS ({seats_sql.lock_seat_of("reservation")}
), total AS (
    SELECT count(*) AS holds, sum(reservation.price)::bigint AS price,
        (SELECT count(*) FROM seat) AS seats
    FROM reservation
), payable AS (
    SELECT total.price FROM total WHERE total.holds = {count} AND total.seats = total.holds
), debited AS ({wallets_sql.debit("$2", "payable.price", "payable")}
), confirmed AS ({reservations_sql.confirm(ids, "debited")}
), sold AS ({seats_sql.sell_seat_of("confirmed")}
), paid AS (
    INSERT INTO payments (reservation_id, user_id, amount)
    SELECT confirmed.id, $2, confirmed.price FROM confirmed ORDER BY confirmed.id
    RETURNING {COLUMNS}
), entry AS ({wallets_sql.payment_entries("debited", "(SELECT price FROM payable)", "paid")}
), ticket AS ({tickets_sql.issue_for("paid", "reservation", "$3")}
)
SELECT reservation.id, reservation.schedule_id, reservation.price,
    {seats_sql.all_sold_but("$3", "SELECT seat_id FROM reservation")},
    paid.id, paid.reservation_id, paid.user_id, paid.amount, paid.paid_at, paid.status
FROM reservation LEFT JOIN paid ON paid.reservation_id = reservation.id
ORDER BY reservation.id
"""


# Two prepared statements of one text: a payment of one reservation (the hot path) matches it by
# ``= $1``, which stays a primary-key lookup in the generic plan PostgreSQL settles on after a
# few executions; with ``= ANY($1)`` that plan scanned every live hold and every seat of the
# table for each payment (payments of 16 fans at once ran at 0.6x the one-id form's rate).
SETTLE_ONE = _settle("= $1::bigint", "1")
SETTLE_SEVERAL = _settle("= ANY($1::bigint[])", "cardinality($1::bigint[])")

# What each new pooled connection runs first (``kernel.db.warm_connection``): the payment of
# reservation 0 by user 0, which matches no hold, so locks and writes nothing. A cold connection
# spends ~9 ms of the server's CPU on its first payments (the statement's preparation, five
# custom plans, the catalog of the eleven tables and their indexes); twenty of them at the
# opening of a sale stalled the first payments by ~100 ms on two cores.
WARM_STATEMENTS: list[WarmStatement] = [(SETTLE_ONE, (0, 0, 0))]


@dataclass(frozen=True, slots=True)
class Settlement:
    reservation_ids: list[int]  # the payable ones among those asked for
    schedule_ids: list[int]
    price: int  # of the payable ones together
    last_unsold_seats: bool
    payments: list[PaymentOut]  # empty: nothing was paid


class PaymentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def settle(self, reservation_ids: list[int], user_id: int, concert_id: int) -> Settlement:
        """Pay the reservations in one statement, all or none (see ``_settle``)."""
        one = len(reservation_ids) == 1
        statement, ids = (SETTLE_ONE, reservation_ids[0]) if one else (SETTLE_SEVERAL, reservation_ids)
        rows = await self.db.fetch(statement, ids, user_id, concert_id)
        payments = [PaymentOut(row[4], *row[5:]) for row in rows if row[4] is not None]
        return Settlement(
            reservation_ids=[row[0] for row in rows],
            schedule_ids=sorted({row[1] for row in rows}),
            price=sum(row[2] for row in rows),
            last_unsold_seats=bool(rows) and rows[0][3],
            payments=payments if len(payments) == len(reservation_ids) else [],
        )

    async def page_of_user(self, user_id: int, before_id: int, limit: int) -> list[PaymentOut]:
        sql = f"SELECT {COLUMNS} FROM payments WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        rows = await self.db.fetch(sql, user_id, before_id, limit)
        return [PaymentOut(*row) for row in rows]

    # -- the operator's reports: read-only, across the tables a payment is made of ----------------

    _PAYMENTS = (
        "FROM schedules JOIN reservations ON reservations.schedule_id = schedules.id "
        "JOIN payments ON payments.reservation_id = reservations.id "
    )
    _OF_CONCERT = "WHERE schedules.concert_id = $1 AND ($2::bigint IS NULL OR schedules.id = $2)"

    async def paid_between(self, concert_id: int, schedule_id: int | None) -> tuple[datetime, datetime] | None:
        """The first and the last payment of the concert (or of one date), None before any."""
        sql = f"SELECT min(payments.paid_at), max(payments.paid_at) {self._PAYMENTS}{self._OF_CONCERT}"
        row = await self.db.fetchrow(sql, concert_id, schedule_id)
        return (row[0], row[1]) if row and row[0] is not None else None

    async def sales_per_bucket(self, concert_id: int, schedule_id: int | None, bucket_seconds: int) -> list[SalesPoint]:
        """Payments per bucket of ``bucket_seconds``, buckets aligned on a fixed origin."""
        sql = (
            "SELECT date_bin(make_interval(secs => $3), payments.paid_at, TIMESTAMPTZ '2000-01-01 00:00+00'), "
            f"count(*), sum(payments.amount)::bigint {self._PAYMENTS}{self._OF_CONCERT} GROUP BY 1 ORDER BY 1"
        )
        rows = await self.db.fetch(sql, concert_id, schedule_id, bucket_seconds)
        return [SalesPoint(*row) for row in rows]

    async def order_lines(
        self, concert_id: int, schedule_id: int | None, after_payment_id: int, limit: int
    ) -> list[OrderLine]:
        """The concert's paid seats (refunded ones too) in payment id order, after ``after_payment_id``."""
        sql = (
            "SELECT payments.id, payments.paid_at, payments.status, payments.refunded_at, payments.amount, "
            "payments.user_id, users.name, schedules.id, schedules.starts_at, zones.name, seats.row, "
            "COALESCE(NULLIF(seats.label, ''), seats.number::text), seats.class_name "
            f"{self._PAYMENTS}JOIN users ON users.id = payments.user_id "
            "JOIN seats ON seats.id = reservations.seat_id JOIN zones ON zones.id = seats.zone_id "
            f"{self._OF_CONCERT} AND payments.id > $3 ORDER BY payments.id LIMIT $4"
        )
        rows = await self.db.fetch(sql, concert_id, schedule_id, after_payment_id, limit)
        return [OrderLine(*row) for row in rows]

    # -- refunds ---------------------------------------------------------------------------------

    async def lock(self, payment_id: int) -> PaymentOut | None:
        """The payment, X-locked: first in a refund's lock order (payment -> ticket -> reservation
        -> seat -> wallet). A second refund of it waits here, then finds it REFUNDED."""
        row = await self.db.lock_fetchrow(f"SELECT {COLUMNS} FROM payments WHERE id = $1 FOR UPDATE", payment_id)
        return PaymentOut(*row) if row else None

    async def mark_refunded(self, payment_id: int) -> RefundOut:
        """PAID -> REFUNDED, now (the caller holds the row's lock and checked it is PAID)."""
        sql = (
            "UPDATE payments SET status = 'REFUNDED', refunded_at = now() WHERE id = $1 AND status = 'PAID' "
            f"RETURNING {COLUMNS}, refunded_at"
        )
        return RefundOut(*required(await self.db.fetchrow(sql, payment_id)))

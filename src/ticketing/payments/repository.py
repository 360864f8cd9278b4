"""Payments, and the one statement that settles a payment across the reservation, seat, wallet
and ledger tables (seed flow 8): the only SQL of this domain that writes other domains' tables,
because doing it in one statement is what keeps every row lock short."""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.core.db import Connection
from ticketing.core.locking import translate_db_errors
from ticketing.payments.schemas import PaymentOut
from ticketing.schedules.seat_sql import SEATS_OF_SCHEDULE

COLUMNS = "id, reservation_id, user_id, amount, paid_at"

# Locks in the shared order reservation -> seat -> wallet, each data change chained to the one
# before it so that nothing is written unless everything can be:
#   reservation  the caller's live HELD hold of this concert, X-locked (a racing payer or the
#                expiry sweeper waits, then finds it no longer HELD: exactly one of them wins);
#   seat         its seat, X-locked;
#   debited      the wallet, debited only if the balance covers the price (checked again on the
#                latest version after a wait, so two payments never spend one balance twice);
#   confirmed, sold, paid, entry  only from a debit: CONFIRMED, SOLD, the payment row (UNIQUE per
#                reservation) and its PAYMENT ledger row.
# No row: nothing payable (the caller says why from a re-read). A row without a payment: the
# wallet is missing or short, and nothing was changed. The CHECK on the balance is the backstop.
# ``last_unsold_seat``: as of this statement every other seat of the concert is sold — this
# payment may have sold the concert out. (The search stops at the first unsold seat it finds,
# so it is cheap until the very end of a sale.)
SETTLE = f"""
WITH reservation AS (
    SELECT reservations.id, reservations.seat_id, reservations.schedule_id, reservations.price
    FROM reservations JOIN schedules ON schedules.id = reservations.schedule_id
    WHERE reservations.id = $1 AND reservations.user_id = $2 AND schedules.concert_id = $3
      AND reservations.status = 'HELD' AND reservations.held_until > now()
    FOR UPDATE OF reservations
), seat AS (
    SELECT seats.id FROM seats JOIN reservation ON seats.id = reservation.seat_id FOR UPDATE OF seats
), debited AS (
    UPDATE wallets SET balance = wallets.balance - reservation.price, version = wallets.version + 1,
        updated_at = now()
    FROM reservation, seat
    WHERE wallets.user_id = $2 AND wallets.balance >= reservation.price
    RETURNING wallets.id, wallets.balance
), confirmed AS (
    UPDATE reservations SET status = 'CONFIRMED', version = reservations.version + 1, updated_at = now()
    FROM debited WHERE reservations.id = $1
    RETURNING reservations.id, reservations.seat_id, reservations.price
), sold AS (
    UPDATE seats SET status = 'SOLD', held_until = NULL, version = seats.version + 1
    FROM confirmed WHERE seats.id = confirmed.seat_id
    RETURNING seats.id
), paid AS (
    INSERT INTO payments (reservation_id, user_id, amount)
    SELECT confirmed.id, $2, confirmed.price FROM confirmed, sold
    RETURNING {COLUMNS}
), entry AS (
    INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after, payment_id)
    SELECT debited.id, 'PAYMENT', paid.amount, debited.balance, paid.id FROM debited, paid
    RETURNING id
)
SELECT reservation.schedule_id, reservation.price,
    NOT EXISTS (
        SELECT 1 FROM schedules CROSS JOIN LATERAL (
            SELECT 1 {SEATS_OF_SCHEDULE} AND seats.id <> reservation.seat_id AND seats.status <> 'SOLD' LIMIT 1
        ) unsold
        WHERE schedules.concert_id = $3
    ),
    paid.id, paid.reservation_id, paid.user_id, paid.amount, paid.paid_at
FROM reservation LEFT JOIN paid ON true
"""


@dataclass(frozen=True, slots=True)
class Settlement:
    schedule_id: int
    price: int
    last_unsold_seat: bool
    payment: PaymentOut | None  # None: the wallet is missing or short; nothing was changed


class PaymentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def settle(self, reservation_id: int, user_id: int, concert_id: int) -> Settlement | None:
        """Pay the reservation in one statement (see ``SETTLE``). None: the caller has no live
        hold with this id for this concert."""
        with translate_db_errors():
            row = await self.conn.fetchrow(SETTLE, reservation_id, user_id, concert_id)
        if row is None:
            return None
        schedule_id, price, last_unsold_seat, payment_id, *payment = row
        payment_out = PaymentOut(payment_id, *payment) if payment_id is not None else None
        return Settlement(schedule_id, price, last_unsold_seat, payment_out)

    async def page_of_user(self, user_id: int, before_id: int, limit: int) -> list[PaymentOut]:
        sql = f"SELECT {COLUMNS} FROM payments WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        with translate_db_errors():
            rows = await self.conn.fetch(sql, user_id, before_id, limit)
        return [PaymentOut(*row) for row in rows]

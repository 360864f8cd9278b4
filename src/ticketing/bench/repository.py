"""The benchmark's SQL: bulk fixtures and the invariant checks read straight from the tables."""

from __future__ import annotations

from dataclasses import dataclass

from ticketing.core.db import Connection
from ticketing.core.locking import translate_db_errors


@dataclass(frozen=True, slots=True)
class FanRow:
    id: int
    name: str
    wallet_id: int


class BenchRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def bulk_create_fans(self, prefix: str, count: int, balance: int, password_hash: str) -> list[FanRow]:
        """Users, wallets and (for a balance) the CHARGE ledger rows, in three set-based
        statements: 100,000 fans take seconds, not 100,000 sign-ups."""
        with translate_db_errors():
            users = await self.conn.fetch(
                "INSERT INTO users (name, password_hash, role) "
                "SELECT $1 || lpad(n::text, 7, '0'), $2, 'fan' FROM generate_series(1, $3::int) n RETURNING id, name",
                prefix,
                password_hash,
                count,
            )
            wallets = await self.conn.fetch(
                "INSERT INTO wallets (user_id, balance) SELECT unnest($1::bigint[]), $2 RETURNING id, user_id",
                [row[0] for row in users],
                balance,
            )
            if balance > 0:
                await self.conn.execute(
                    "INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after) "
                    "SELECT unnest($1::bigint[]), 'CHARGE', $2::bigint, $2::bigint",
                    [row[0] for row in wallets],
                    balance,
                )
        wallet_of = {user_id: wallet_id for wallet_id, user_id in wallets}
        return [FanRow(user_id, name, wallet_of[user_id]) for user_id, name in users]

    async def deadlocks(self) -> int:
        with translate_db_errors():
            sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            return int(await self.conn.fetchval(sql) or 0)

    async def invariant_violations(self) -> dict[str, int]:
        """Each value must be 0."""
        checks = {
            "seats with more than one live reservation": (
                "SELECT count(*) FROM (SELECT seat_id FROM reservations WHERE status IN ('HELD', 'CONFIRMED') "
                "GROUP BY seat_id HAVING count(*) > 1) s"
            ),
            "sold seats without exactly one confirmed reservation": (
                "SELECT count(*) FROM seats s WHERE s.status = 'SOLD' AND (SELECT count(*) FROM reservations r "
                "WHERE r.seat_id = s.id AND r.status = 'CONFIRMED') <> 1"
            ),
            "confirmed reservations without exactly one payment of their price": (
                "SELECT count(*) FROM reservations r WHERE r.status = 'CONFIRMED' AND (SELECT count(*) FROM payments p "
                "WHERE p.reservation_id = r.id AND p.amount = r.price) <> 1"
            ),
            "payments of a reservation that is not confirmed": (
                "SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id "
                "WHERE r.status <> 'CONFIRMED'"
            ),
            "wallets whose balance is not their ledger sum": (
                "SELECT count(*) FROM wallets w WHERE w.balance <> (SELECT COALESCE(SUM(CASE WHEN kind = 'PAYMENT' "
                "THEN -amount ELSE amount END), 0) FROM ledger_entries l WHERE l.wallet_id = w.id)"
            ),
            "won created or lost (charges - payments - balances)": (
                "SELECT abs((SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind IN ('CHARGE', 'REFUND')) "
                "- (SELECT COALESCE(SUM(amount), 0) FROM payments) - (SELECT COALESCE(SUM(balance), 0) FROM wallets))"
            ),
            "payment ledger rows that differ from payments": (
                "SELECT abs((SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind = 'PAYMENT') "
                "- (SELECT COALESCE(SUM(amount), 0) FROM payments))"
            ),
        }
        results = {}
        with translate_db_errors():
            for name, sql in checks.items():
                results[name] = int(await self.conn.fetchval(sql) or 0)
        return results

"""The benchmark's own SQL: read-only audits of the tables (the invariants, deadlocks). Its fixtures
are made by the services' owners of each table (``UserService.create_fans_in_bulk``), except one:
a date sold but for its last seats (``sell_all_but``), which no use case makes in bulk."""

from __future__ import annotations

from ticketing.kernel.db import Database


class BenchRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def deadlocks(self) -> int:
        sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        return int(await self.db.fetchval(sql) or 0)

    async def database_counters(self, database: str) -> dict[str, int]:
        """The cumulative counters of ``database`` (as flushed so far: a backend reports its
        counts when it ends, or at most once a second while busy, 10 s after it went idle)."""
        sql = (
            "SELECT xact_commit, xact_rollback, deadlocks, tup_inserted, tup_updated "
            "FROM pg_stat_database WHERE datname = $1"
        )
        row = await self.db.fetchrow(sql, database)
        return dict(row) if row is not None else {}

    async def next_transaction_id(self) -> int:
        """The next transaction id PostgreSQL will assign (cluster-wide): the difference over a
        burst is how many transactions wrote or row-locked anything (read-only ones take none),
        counted at once, without waiting for the statistics to be flushed."""
        return int(await self.db.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))

    async def wal_position(self) -> int:
        """Bytes of WAL written since the cluster began (the difference over a phase is what its
        writes cost the log, at once, without waiting for the statistics to be flushed)."""
        return int(await self.db.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))

    async def row_lock_waiters(self) -> int:
        """Backends waiting right now for a row (a tuple lock, or the transaction holding the row
        or a conflicting unique-index entry): the sample of the burst's lock-wait integral."""
        sql = "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')"
        return int(await self.db.fetchval(sql) or 0)

    async def double_holds(self, seat_ids: list[int]) -> int:
        """Seats of ``seat_ids`` with more than one live (HELD or CONFIRMED) reservation."""
        sql = (
            "SELECT count(*) FROM (SELECT seat_id FROM reservations WHERE seat_id = ANY($1::bigint[]) "
            "AND status IN ('HELD', 'CONFIRMED') GROUP BY seat_id HAVING count(*) > 1) s"
        )
        return int(await self.db.fetchval(sql, seat_ids) or 0)

    async def live_holders(self, seat_ids: list[int]) -> set[tuple[int, int]]:
        """(user, seat) of every live (HELD or CONFIRMED) reservation of ``seat_ids``."""
        sql = (
            "SELECT user_id, seat_id FROM reservations WHERE seat_id = ANY($1::bigint[]) "
            "AND status IN ('HELD', 'CONFIRMED')"
        )
        rows = await self.db.fetch(sql, seat_ids)
        return {(int(row["user_id"]), int(row["seat_id"])) for row in rows}

    async def buyers(self, seat_ids: list[int]) -> list[int]:
        """The user of every CONFIRMED (paid) reservation of ``seat_ids``: one entry per seat sold."""
        sql = "SELECT user_id FROM reservations WHERE seat_id = ANY($1::bigint[]) AND status = 'CONFIRMED'"
        rows = await self.db.fetch(sql, seat_ids)
        return [int(row["user_id"]) for row in rows]

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
            "confirmed reservations without exactly one paid payment of their price": (
                "SELECT count(*) FROM reservations r WHERE r.status = 'CONFIRMED' AND (SELECT count(*) FROM payments p "
                "WHERE p.reservation_id = r.id AND p.amount = r.price AND p.status = 'PAID') <> 1"
            ),
            "paid payments of a reservation that is not confirmed": (
                "SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id "
                "WHERE p.status = 'PAID' AND r.status <> 'CONFIRMED'"
            ),
            # Refunds: a refunded payment, its reservation and its ticket agree, and its
            # money went back exactly once.
            "refunded payments of a reservation that is not refunded": (
                "SELECT count(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id "
                "WHERE p.status = 'REFUNDED' AND r.status <> 'REFUNDED'"
            ),
            "refunded reservations without exactly one refunded payment": (
                "SELECT count(*) FROM reservations r WHERE r.status = 'REFUNDED' AND (SELECT count(*) FROM payments p "
                "WHERE p.reservation_id = r.id AND p.status = 'REFUNDED') <> 1"
            ),
            "refunded payments without exactly one REFUND ledger row of their amount": (
                "SELECT count(*) FROM payments p WHERE p.status = 'REFUNDED' AND (SELECT count(*) "
                "FROM ledger_entries l WHERE l.payment_id = p.id AND l.kind = 'REFUND' AND l.amount = p.amount) <> 1"
            ),
            "REFUND ledger rows of a payment that is not refunded": (
                "SELECT count(*) FROM ledger_entries l LEFT JOIN payments p ON p.id = l.payment_id "
                "WHERE l.kind = 'REFUND' AND p.status IS DISTINCT FROM 'REFUNDED'"
            ),
            "payments without exactly one ticket": (
                "SELECT count(*) FROM payments p WHERE (SELECT count(*) FROM tickets t WHERE t.payment_id = p.id) <> 1"
            ),
            "tickets whose owner, date or seat differ from their reservation's": (
                "SELECT count(*) FROM tickets t JOIN reservations r ON r.id = t.reservation_id "
                "JOIN schedules s ON s.id = r.schedule_id WHERE (t.user_id, t.concert_id, t.schedule_id, t.seat_id, "
                "t.seat_number) <> (r.user_id, s.concert_id, r.schedule_id, r.seat_id, r.seat_number)"
            ),
            "tickets whose refund disagrees with their payment's": (
                "SELECT count(*) FROM tickets t JOIN payments p ON p.id = t.payment_id "
                "WHERE (t.status = 'REFUNDED') <> (p.status = 'REFUNDED')"
            ),
            "wallets whose balance is not their ledger sum (charges + refunds - payments)": (
                "SELECT count(*) FROM wallets w WHERE w.balance <> (SELECT COALESCE(SUM(CASE WHEN kind = 'PAYMENT' "
                "THEN -amount ELSE amount END), 0) FROM ledger_entries l WHERE l.wallet_id = w.id)"
            ),
            "won created or lost (charges - payments + refunds - balances)": (
                "SELECT abs((SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind = 'CHARGE') "
                "- (SELECT COALESCE(SUM(amount), 0) FROM payments) "
                "+ (SELECT COALESCE(SUM(amount), 0) FROM payments WHERE status = 'REFUNDED') "
                "- (SELECT COALESCE(SUM(balance), 0) FROM wallets))"
            ),
            "payment ledger rows that differ from payments": (
                "SELECT abs((SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind = 'PAYMENT') "
                "- (SELECT COALESCE(SUM(amount), 0) FROM payments))"
            ),
            "refund ledger rows that differ from refunded payments": (
                "SELECT abs((SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE kind = 'REFUND') "
                "- (SELECT COALESCE(SUM(amount), 0) FROM payments WHERE status = 'REFUNDED'))"
            ),
        }
        results = {}
        for name, sql in checks.items():
            results[name] = int(await self.db.fetchval(sql) or 0)
        return results

    async def sell_all_but(self, schedule_id: int, kept: list[int], buyer: int, wallet_id: int, most: int) -> int:
        """Sell up to ``most`` free seats of the date, never one of ``kept``, to ``buyer`` (the
        caller repeats it, a transaction each, until it sells none: one statement for a whole
        stadium outlasts the statement timeout), in one statement, as a
        sale would have left them: each seat SOLD with one CONFIRMED reservation at its price,
        one PAID payment, its ticket, and a CHARGE then a PAYMENT ledger row of that amount on
        the buyer's wallet (its balance unchanged: charged and spent). Every invariant of
        ``invariant_violations`` holds after it. Returns how many seats were sold."""
        sql = (
            "WITH picked AS (SELECT id FROM seats WHERE schedule_id = $1 AND status = 'AVAILABLE' "
            "  AND NOT (id = ANY($2::bigint[])) ORDER BY id LIMIT $5 FOR UPDATE), "
            "sold AS (UPDATE seats SET status = 'SOLD', held_until = NULL, version = seats.version + 1 "
            "  FROM picked WHERE seats.id = picked.id RETURNING seats.id, seats.number, seats.price), "
            "booked AS (INSERT INTO reservations "
            "  (user_id, seat_id, schedule_id, status, price, held_until, seat_number) "
            "  SELECT $3, id, $1, 'CONFIRMED', price, now(), number FROM sold "
            "  RETURNING id, seat_id, seat_number, price), "
            "paid AS (INSERT INTO payments (reservation_id, user_id, amount, status) "
            "  SELECT id, $3, price, 'PAID' FROM booked RETURNING id, reservation_id, amount), "
            "charged AS (INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after) "
            "  SELECT $4, 'CHARGE', amount, w.balance + amount FROM paid, wallets w WHERE w.id = $4), "
            "spent AS (INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after, payment_id) "
            "  SELECT $4, 'PAYMENT', amount, w.balance, paid.id FROM paid, wallets w WHERE w.id = $4), "
            "ticketed AS (INSERT INTO tickets (payment_id, reservation_id, user_id, concert_id, schedule_id, "
            "  seat_id, seat_number, code) "
            "  SELECT paid.id, booked.id, $3, s.concert_id, $1, booked.seat_id, booked.seat_number, "
            "  upper(replace(gen_random_uuid()::text, '-', '')) "
            "  FROM paid JOIN booked ON booked.id = paid.reservation_id JOIN schedules s ON s.id = $1) "
            "SELECT count(*) FROM paid"
        )
        return int(await self.db.fetchval(sql, schedule_id, kept, buyer, wallet_id, most) or 0)

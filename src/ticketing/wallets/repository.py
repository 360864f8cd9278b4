from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing.core.db import Connection
from ticketing.core.locking import translate_db_errors


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: int
    user_id: int
    balance: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    kind: str
    amount: int
    balance_after: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    owner_id: int
    balance_before: int
    updated_at: datetime | None  # None: refused (another user's wallet, or over the cap)


WALLET_COLUMNS = "wallets.id, wallets.user_id, wallets.balance, wallets.updated_at"

# Lock, credit and write the ledger rows in ONE statement: the wallet row is X-locked (FOR UPDATE)
# only from this statement to the commit that follows, with no round trip in between — the lock
# hold time decides the throughput of one hot wallet. Several amounts (a batch of concurrent
# charges) are credited all or none; each gets its own ledger row, in order, with the balance
# it left behind.
CHARGE = """
WITH locked AS (
    SELECT id, user_id, balance FROM wallets WHERE id = $1 FOR UPDATE
), items AS (
    SELECT n, amount, sum(amount) OVER (ORDER BY n)::bigint AS running
    FROM unnest($3::bigint[]) WITH ORDINALITY AS item(amount, n)
), total AS (
    SELECT sum(amount)::bigint AS amount FROM items
), credited AS (
    UPDATE wallets SET balance = wallets.balance + total.amount, updated_at = now()
    FROM locked, total
    WHERE wallets.id = locked.id AND locked.user_id = $2 AND locked.balance + total.amount <= $4::bigint
    RETURNING wallets.id, wallets.updated_at
), entries AS (
    INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after)
    SELECT credited.id, 'CHARGE', items.amount, locked.balance + items.running
    FROM credited, locked, items ORDER BY items.n
    RETURNING id
)
SELECT locked.user_id, locked.balance, credited.updated_at FROM locked LEFT JOIN credited ON true
"""


# A refund: the payer's wallet credited by the payment's amount, and its REFUND ledger row (naming
# the payment: one per payment, a partial unique index) with the balance it left. No cap: a refund
# restores money that was in the wallet. The wallet row is X-locked by the UPDATE, last in the
# refund's lock order (payment -> ticket -> reservation -> seat -> wallet).
REFUND = """
WITH credited AS (
    UPDATE wallets SET balance = wallets.balance + $2, updated_at = now()
    WHERE wallets.user_id = $1
    RETURNING wallets.id, wallets.user_id, wallets.balance, wallets.updated_at
), entry AS (
    INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after, payment_id)
    SELECT credited.id, 'REFUND', $2, credited.balance, $3 FROM credited
    RETURNING id
)
SELECT credited.id, credited.user_id, credited.balance, credited.updated_at FROM credited
"""


class WalletRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def create(self, user_id: int) -> int:
        with translate_db_errors():
            return int(await self.conn.fetchval("INSERT INTO wallets (user_id) VALUES ($1) RETURNING id", user_id))

    async def create_funded(self, user_ids: list[int], balance: int) -> dict[int, int]:
        """A wallet per user holding ``balance``, with its CHARGE ledger row when the balance is
        not 0, in two set-based statements: {user id: wallet id}."""
        wallets = "INSERT INTO wallets (user_id, balance) SELECT unnest($1::bigint[]), $2 RETURNING id, user_id"
        entries = (
            "INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after) "
            "SELECT unnest($1::bigint[]), 'CHARGE', $2::bigint, $2::bigint"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(wallets, user_ids, balance)
            if balance > 0:
                await self.conn.execute(entries, [row[0] for row in rows], balance)
        return {user_id: wallet_id for wallet_id, user_id in rows}

    async def get(self, wallet_id: int) -> WalletRow | None:
        with translate_db_errors():
            row = await self.conn.fetchrow(f"SELECT {WALLET_COLUMNS} FROM wallets WHERE id = $1", wallet_id)
        return WalletRow(*row) if row else None

    async def wallet_of_user(self, user_id: int) -> WalletRow | None:
        sql = f"SELECT {WALLET_COLUMNS} FROM wallets WHERE user_id = $1"
        with translate_db_errors():
            row = await self.conn.fetchrow(sql, user_id)
        return WalletRow(*row) if row else None

    async def charge(self, wallet_id: int, user_id: int, amounts: list[int], cap: int) -> ChargeOutcome | None:
        """Credit every amount, or none when the wallet is not ``user_id``'s or the cap would be
        passed (see ``CHARGE``). None: no such wallet."""
        with translate_db_errors():
            row = await self.conn.fetchrow(CHARGE, wallet_id, user_id, amounts, cap)
        return ChargeOutcome(*row) if row is not None else None

    async def credit_refund(self, user_id: int, amount: int, payment_id: int) -> WalletRow | None:
        """See ``REFUND``. None: the user has no wallet."""
        with translate_db_errors():
            row = await self.conn.fetchrow(REFUND, user_id, amount, payment_id)
        return WalletRow(*row) if row else None

    async def ledger_page(self, wallet_id: int, before_id: int, limit: int) -> list[LedgerRow]:
        sql = (
            "SELECT id, kind, amount, balance_after, created_at FROM ledger_entries "
            "WHERE wallet_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, wallet_id, before_id, limit)
        return [LedgerRow(*row) for row in rows]

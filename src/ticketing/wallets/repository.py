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
    credited: WalletRow | None  # None: refused (another user's wallet, or over the cap)


WALLET_COLUMNS = "wallets.id, wallets.user_id, wallets.balance, wallets.updated_at"

# Lock, credit and write the ledger row in ONE statement: the wallet row is X-locked (FOR UPDATE)
# only from this statement to the commit that follows, with no round trip in between — the lock
# hold time decides the throughput of one hot wallet.
CHARGE = """
WITH locked AS (
    SELECT id, user_id, balance FROM wallets WHERE id = $1 FOR UPDATE
), credited AS (
    UPDATE wallets SET balance = wallets.balance + $3::bigint, version = wallets.version + 1, updated_at = now()
    FROM locked
    WHERE wallets.id = locked.id AND locked.user_id = $2 AND locked.balance + $3::bigint <= $4::bigint
    RETURNING wallets.id, wallets.user_id, wallets.balance, wallets.updated_at
), entry AS (
    INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after)
    SELECT id, 'CHARGE', $3::bigint, balance FROM credited
    RETURNING id
)
SELECT locked.user_id, locked.balance, credited.balance, credited.updated_at
FROM locked LEFT JOIN credited ON true
"""


# The debit of a payment, in one statement: the UPDATE X-locks the wallet row (its WHERE is
# checked again on the latest version after a wait, so two payments never spend one balance
# twice) and the ledger row is written from what it returns. The CHECK constraint on the
# balance stays the backstop.
DEBIT = """
WITH debited AS (
    UPDATE wallets SET balance = balance - $2::bigint, version = version + 1, updated_at = now()
    WHERE user_id = $1 AND balance >= $2::bigint
    RETURNING id, balance
), entry AS (
    INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after, payment_id)
    SELECT id, 'PAYMENT', $2::bigint, balance, $3 FROM debited
    RETURNING id
)
SELECT balance FROM debited
"""


class WalletRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def create(self, user_id: int) -> int:
        with translate_db_errors():
            return int(await self.conn.fetchval("INSERT INTO wallets (user_id) VALUES ($1) RETURNING id", user_id))

    async def get(self, wallet_id: int) -> WalletRow | None:
        with translate_db_errors():
            row = await self.conn.fetchrow(f"SELECT {WALLET_COLUMNS} FROM wallets WHERE id = $1", wallet_id)
        return WalletRow(*row) if row else None

    async def wallet_of_user(self, user_id: int) -> WalletRow | None:
        sql = f"SELECT {WALLET_COLUMNS} FROM wallets WHERE user_id = $1"
        with translate_db_errors():
            row = await self.conn.fetchrow(sql, user_id)
        return WalletRow(*row) if row else None

    async def user_exists(self, user_id: int) -> bool:
        with translate_db_errors():
            return bool(await self.conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id))

    async def debit_for_payment(self, user_id: int, amount: int, payment_id: int) -> int | None:
        """Debit the user's wallet and write its PAYMENT ledger row in one statement (see
        ``DEBIT``); the new balance, or None when there is no wallet or too little money."""
        with translate_db_errors():
            balance = await self.conn.fetchval(DEBIT, user_id, amount, payment_id)
        return int(balance) if balance is not None else None

    async def charge(self, wallet_id: int, user_id: int, amount: int, cap: int) -> ChargeOutcome | None:
        """Credit ``amount`` unless the wallet is not ``user_id``'s or the cap would be passed
        (see ``CHARGE``). None: no such wallet."""
        with translate_db_errors():
            row = await self.conn.fetchrow(CHARGE, wallet_id, user_id, amount, cap)
        if row is None:
            return None
        owner, before, after, updated_at = row
        credited = WalletRow(wallet_id, owner, after, updated_at) if after is not None else None
        return ChargeOutcome(owner_id=owner, balance_before=before, credited=credited)

    async def ledger_page(self, wallet_id: int, before_id: int, limit: int) -> list[LedgerRow]:
        sql = (
            "SELECT id, kind, amount, balance_after, created_at FROM ledger_entries "
            "WHERE wallet_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        )
        with translate_db_errors():
            rows = await self.conn.fetch(sql, wallet_id, before_id, limit)
        return [LedgerRow(*row) for row in rows]

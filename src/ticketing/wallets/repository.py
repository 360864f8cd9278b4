from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing.kernel.db import Database


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
class Charge:
    wallet_id: int
    user_id: int  # the caller: only the wallet's owner may charge it
    amount: int


@dataclass(frozen=True, slots=True)
class ChargeVerdict:
    """What ``CHARGE`` did with one charge of its batch."""

    owner_id: int | None  # None: no such wallet
    balance_before: int | None  # the wallet's balance when the statement locked it (None: not the caller's wallet)
    balance_after: int | None  # with this charge and every earlier charge of its wallet in the batch
    updated_at: datetime | None  # set when this charge was credited


WALLET_COLUMNS = "wallets.id, wallets.user_id, wallets.balance, wallets.updated_at"

# A batch of charges over any number of wallets (a group commit): lock, credit and write the
# ledger rows in ONE statement, so every wallet row is X-locked only from this statement to the
# commit that follows, with no round trip in between — the lock hold time decides the throughput
# of one hot wallet, and one commit (one WAL flush) serves the whole batch.
# - Lock order: the wallets are locked in ascending id (an explicit ORDER BY ... FOR UPDATE; the
#   UPDATE's join promises no order), so two batches over overlapping wallets never deadlock.
#   The UPDATE reads its rows through the window sum below, which needs every locked row first:
#   all the locks are taken by that SELECT, in order, before any row is updated.
# - A charge of another user's wallet (or of none) changes nothing and leaves the others alone.
# - Per wallet, its own charges in arrival order, each with the balance it leaves; the longest
#   prefix that stays within the cap ($4) is credited, the rest of that wallet's charges are not
#   (the caller judges them, see ``WalletService._judge``). Amounts are positive, so the running
#   balances rise and "within the cap" is a prefix.
# One verdict per charge, in the order of the charges.
CHARGE = """
WITH items AS (
    SELECT n, wallet_id, user_id, amount
    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS item(wallet_id, user_id, amount, n)
), locked AS (
    SELECT id, user_id, balance FROM wallets WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
), owned AS (
    SELECT items.n, items.wallet_id, items.amount, locked.balance AS balance_before,
           (locked.balance + sum(items.amount) OVER (PARTITION BY items.wallet_id ORDER BY items.n))::bigint
               AS balance_after
    FROM items JOIN locked ON locked.id = items.wallet_id AND locked.user_id = items.user_id
), fitting AS (
    SELECT n, wallet_id, amount, balance_after FROM owned WHERE balance_after <= $4::bigint
), credited AS (
    UPDATE wallets SET balance = wallets.balance + total.amount, updated_at = now()
    FROM (SELECT wallet_id, sum(amount)::bigint AS amount FROM fitting GROUP BY wallet_id) AS total
    WHERE wallets.id = total.wallet_id
    RETURNING wallets.id, wallets.updated_at
), entries AS (
    INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after)
    SELECT wallet_id, 'CHARGE', amount, balance_after FROM fitting ORDER BY n
)
SELECT locked.user_id, owned.balance_before, owned.balance_after,
       CASE WHEN owned.balance_after <= $4::bigint THEN credited.updated_at END
FROM items
LEFT JOIN locked ON locked.id = items.wallet_id
LEFT JOIN owned ON owned.n = items.n
LEFT JOIN credited ON credited.id = items.wallet_id
ORDER BY items.n
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
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user_id: int) -> int:
        return int(await self.db.fetchval("INSERT INTO wallets (user_id) VALUES ($1) RETURNING id", user_id))

    async def create_funded(self, user_ids: list[int], balance: int) -> dict[int, int]:
        """A wallet per user holding ``balance``, with its CHARGE ledger row when the balance is
        not 0, in two set-based statements: {user id: wallet id}."""
        wallets = "INSERT INTO wallets (user_id, balance) SELECT unnest($1::bigint[]), $2 RETURNING id, user_id"
        entries = (
            "INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after) "
            "SELECT unnest($1::bigint[]), 'CHARGE', $2::bigint, $2::bigint"
        )
        rows = await self.db.fetch(wallets, user_ids, balance)
        if balance > 0:
            await self.db.execute(entries, [row[0] for row in rows], balance)
        return {user_id: wallet_id for wallet_id, user_id in rows}

    async def get(self, wallet_id: int) -> WalletRow | None:
        row = await self.db.fetchrow(f"SELECT {WALLET_COLUMNS} FROM wallets WHERE id = $1", wallet_id)
        return WalletRow(*row) if row else None

    async def wallet_of_user(self, user_id: int) -> WalletRow | None:
        sql = f"SELECT {WALLET_COLUMNS} FROM wallets WHERE user_id = $1"
        row = await self.db.fetchrow(sql, user_id)
        return WalletRow(*row) if row else None

    async def charge(self, charges: list[Charge], cap: int) -> list[ChargeVerdict]:
        """See ``CHARGE``: one verdict per charge, in order."""
        rows = await self.db.fetch(
            CHARGE,
            [c.wallet_id for c in charges],
            [c.user_id for c in charges],
            [c.amount for c in charges],
            cap,
        )
        return [ChargeVerdict(*row) for row in rows]

    async def credit_refund(self, user_id: int, amount: int, payment_id: int) -> WalletRow | None:
        """See ``REFUND``. None: the user has no wallet."""
        row = await self.db.fetchrow(REFUND, user_id, amount, payment_id)
        return WalletRow(*row) if row else None

    async def ledger_page(self, wallet_id: int, before_id: int, limit: int) -> list[LedgerRow]:
        sql = (
            "SELECT id, kind, amount, balance_after, created_at FROM ledger_entries "
            "WHERE wallet_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        )
        rows = await self.db.fetch(sql, wallet_id, before_id, limit)
        return [LedgerRow(*row) for row in rows]

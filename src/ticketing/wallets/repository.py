from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.core.locking import translate_db_errors
from ticketing.users.models import User
from ticketing.wallets.models import LedgerEntry, Wallet


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


_wallet_columns = (Wallet.id, Wallet.user_id, Wallet.balance, Wallet.updated_at)


class WalletRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def create(self, user_id: int) -> int:
        with translate_db_errors():
            return int(
                (await self.conn.execute(insert(Wallet).values(user_id=user_id).returning(Wallet.id))).scalar_one()
            )

    async def get(self, wallet_id: int) -> WalletRow | None:
        with translate_db_errors():
            row = (await self.conn.execute(select(*_wallet_columns).where(Wallet.id == wallet_id))).first()
        return WalletRow(*row) if row else None

    async def lock_wallet_of_user(self, user_id: int) -> WalletRow | None:
        stmt = select(*_wallet_columns).where(Wallet.user_id == user_id).with_for_update()
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return WalletRow(*row) if row else None

    async def user_exists(self, user_id: int) -> bool:
        with translate_db_errors():
            return bool(await self.conn.scalar(select(exists().where(User.id == user_id))))

    async def apply(
        self, wallet_id: int, delta: int, kind: str, amount: int, payment_id: int | None = None
    ) -> tuple[WalletRow, int]:
        """Change the balance of a wallet locked by this transaction and write its ledger row.
        The CHECK constraint on the balance is the backstop for a bug upstream."""
        with translate_db_errors():
            row = (
                await self.conn.execute(
                    update(Wallet)
                    .where(Wallet.id == wallet_id)
                    .values(balance=Wallet.balance + delta, version=Wallet.version + 1, updated_at=func.now())
                    .returning(*_wallet_columns)
                )
            ).one()
            wallet = WalletRow(*row)
            entry_id = (
                await self.conn.execute(
                    insert(LedgerEntry)
                    .values(
                        wallet_id=wallet_id, kind=kind, amount=amount, balance_after=wallet.balance,
                        payment_id=payment_id,
                    )
                    .returning(LedgerEntry.id)
                )
            ).scalar_one()  # fmt: skip
        return wallet, int(entry_id)

    async def charge(self, wallet_id: int, user_id: int, amount: int, cap: int) -> ChargeOutcome | None:
        """Lock, credit and write the ledger row in ONE statement: the wallet row is X-locked
        (``FOR UPDATE``) only from this statement to the commit that follows, with no round trip
        in between — the lock hold time decides the throughput of one hot wallet. Nothing changes
        unless the wallet belongs to ``user_id`` and the cap holds. None: no such wallet."""
        stmt = text(
            """
            WITH locked AS (
                SELECT id, user_id, balance FROM wallets WHERE id = :wallet_id FOR UPDATE
            ), credited AS (
                UPDATE wallets SET balance = wallets.balance + :amount, version = wallets.version + 1,
                                   updated_at = now()
                FROM locked
                WHERE wallets.id = locked.id AND locked.user_id = :user_id AND locked.balance + :amount <= :cap
                RETURNING wallets.id, wallets.user_id, wallets.balance, wallets.updated_at
            ), entry AS (
                INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after)
                SELECT id, 'CHARGE', :amount, balance FROM credited
                RETURNING id
            )
            SELECT locked.user_id, locked.balance, credited.balance, credited.updated_at
            FROM locked LEFT JOIN credited ON true
            """
        )
        params = {"wallet_id": wallet_id, "user_id": user_id, "amount": amount, "cap": cap}
        with translate_db_errors():
            row = (await self.conn.execute(stmt, params)).first()
        if row is None:
            return None
        owner, before, after, updated_at = row
        credited = WalletRow(wallet_id, owner, after, updated_at) if after is not None else None
        return ChargeOutcome(owner_id=owner, balance_before=before, credited=credited)

    async def ledger_page(self, wallet_id: int, before_id: int | None, limit: int) -> list[LedgerRow]:
        stmt = select(
            LedgerEntry.id, LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.balance_after, LedgerEntry.created_at
        ).where(LedgerEntry.wallet_id == wallet_id)
        if before_id is not None:
            stmt = stmt.where(LedgerEntry.id < before_id)
        stmt = stmt.order_by(LedgerEntry.id.desc()).limit(limit)
        with translate_db_errors():
            rows = (await self.conn.execute(stmt)).all()
        return [LedgerRow(*row) for row in rows]

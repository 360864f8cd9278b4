from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, insert, select, update
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

    async def lock_wallet(self, wallet_id: int) -> WalletRow | None:
        """X-lock the wallet row (``FOR UPDATE``) until the transaction ends, waiting at most the
        connection's lock_timeout. Every balance change goes through this lock."""
        stmt = select(*_wallet_columns).where(Wallet.id == wallet_id).with_for_update()
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
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

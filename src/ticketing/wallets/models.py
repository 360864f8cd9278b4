from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin

# The database's own ceiling on a balance, far above TICKETING_BALANCE_CAP: the cap bounds charges,
# but a refund restores money that was in the wallet and is credited whatever the cap (migration 0006).
BALANCE_CAP = 1_000_000_000_000


class Wallet(IdMixin, Base):
    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint(f"balance >= 0 AND balance <= {BALANCE_CAP}", name="balance_in_range"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerEntry(IdMixin, CreatedAtMixin, Base):
    """One row for every change of a balance, written in the transaction that changes it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("balance_after >= 0", name="balance_after_non_negative"),
        CheckConstraint("kind IN ('CHARGE', 'PAYMENT', 'REFUND')", name="kind_known"),
        CheckConstraint("kind <> 'REFUND' OR payment_id IS NOT NULL", name="refund_names_payment"),
        Index("ix_ledger_entries_wallet_id_id", "wallet_id", "id"),
        # One refund credit per payment, whatever happens above the database.
        Index(
            "uq_ledger_entries_refund_payment_id", "payment_id", unique=True, postgresql_where=text("kind = 'REFUND'")
        ),
    )

    wallet_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("wallets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("payments.id"), nullable=True)

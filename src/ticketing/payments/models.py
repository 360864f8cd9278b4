from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, IdMixin


class Payment(IdMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('PAID', 'REFUNDED')", name="status_known"),
        CheckConstraint("(status = 'REFUNDED') = (refunded_at IS NOT NULL)", name="refunded_has_time"),
        Index("ix_payments_user_id_id", "user_id", "id"),
    )

    # UNIQUE: a reservation is paid at most once, whatever happens above the database.
    reservation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reservations.id", ondelete="RESTRICT"), unique=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # PAID, or REFUNDED (POST /payments/{id}/refund: the wallet credited, the seat back on sale).
    status: Mapped[str] = mapped_column(String(16), server_default="PAID")
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

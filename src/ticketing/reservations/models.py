from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin


class Reservation(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED', 'REFUNDED')", name="status_known"),
        CheckConstraint("price > 0", name="price_positive"),
        # The last line of defence against a double booking: one live hold or sale per seat.
        Index(
            "uq_reservations_live_seat",
            "seat_id",
            unique=True,
            postgresql_where=text("status IN ('HELD', 'CONFIRMED')"),
        ),
        Index("ix_reservations_user_id_status", "user_id", "status"),
        # The per-fan ticket limit counts a fan's held and paid seats of one date on every hold.
        Index(
            "ix_reservations_user_id_schedule_id_live",
            "user_id",
            "schedule_id",
            postgresql_where=text("status IN ('HELD', 'CONFIRMED')"),
        ),
        Index("ix_reservations_held_until_held", "held_until", postgresql_where=text("status = 'HELD'")),
        Index(
            "ix_reservations_schedule_id_client_address_held",
            "schedule_id",
            "client_address",
            postgresql_where=text("status = 'HELD'"),
        ),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    seat_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("seats.id", ondelete="CASCADE"))
    # Copied from the seat at hold time, like the price: a reservation is read without the seats table.
    seat_number: Mapped[int] = mapped_column(Integer)
    schedule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    price: Mapped[int] = mapped_column(BigInteger)
    held_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Who asked for the hold, as the service saw them (the per-address hold cap and the operators'
    # top holders); NULL for holds made before it was recorded.
    client_address: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

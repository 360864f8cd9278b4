from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin


class Ticket(IdMixin, CreatedAtMixin, Base):
    """The e-ticket of one payment (one seat), issued by the payment's own statement. Concert,
    date, seat and seat number are copied at issue, like a reservation's price: a ticket is read
    without the tables of other domains."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("status IN ('VALID', 'USED', 'REFUNDED')", name="status_known"),
        # Checked in exactly when used: a refunded ticket was never used, a used one never refunded.
        CheckConstraint("(status = 'USED') = (checked_in_at IS NOT NULL)", name="used_has_time"),
        # 128 bits written as 32 hex digits, 122 of them random (tickets/sql.py): never a short code.
        CheckConstraint("code ~ '^[0-9A-F]{32}$'", name="code_format"),
        Index("ix_tickets_user_id_id", "user_id", "id"),
    )

    # UNIQUE: one ticket per payment, whatever happens above the database.
    payment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("payments.id", ondelete="CASCADE"), unique=True)
    reservation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("reservations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    # Copies of the reservation's (which has the foreign keys), without foreign keys of their own:
    # checking one would share-lock the concert's and the date's rows from every payment of a sale
    # at once (a MultiXact on the hottest rows). The audit of make bench compares them.
    concert_id: Mapped[int] = mapped_column(BigInteger)
    schedule_id: Mapped[int] = mapped_column(BigInteger)
    seat_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("seats.id", ondelete="CASCADE"))
    seat_number: Mapped[int] = mapped_column(Integer)
    # What the QR code carries and the door scans: unguessable, unique.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default="VALID")
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

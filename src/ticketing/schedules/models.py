from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.core.orm import Base, CreatedAtMixin, IdMixin


class Schedule(IdMixin, CreatedAtMixin, Base):
    """One performance date of a concert and its reservation window."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint(
            "reservation_opens_at < reservation_closes_at AND reservation_closes_at <= starts_at", name="window_order"
        ),
        Index("ix_schedules_concert_id_starts_at", "concert_id", "starts_at"),
    )

    concert_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("concerts.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reservation_opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reservation_closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Seat(IdMixin, Base):
    """A seat of one schedule. ``status``/``held_until`` mirror the live reservation so that the
    hottest read (the seat map) is one single-table indexed query: a HELD seat whose
    ``held_until`` has passed is available again, before the sweeper even runs."""

    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("schedule_id", "number", name="uq_seats_schedule_id_number"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("status IN ('AVAILABLE', 'HELD', 'SOLD')", name="status_known"),
        CheckConstraint("status <> 'HELD' OR held_until IS NOT NULL", name="held_has_deadline"),
    )

    schedule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default="AVAILABLE")
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer, server_default="0")

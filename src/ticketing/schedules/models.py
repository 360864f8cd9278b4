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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin


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
    # The venue whose seating plan the date's seats were made from; None: a date made from
    # seat_count and price (one zone, one class).
    venue_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("venues.id"), nullable=True)


class ScheduleClass(Base):
    """A price class of a date (a category of its venue's plan, or the one class of a plain date)."""

    __tablename__ = "schedule_classes"
    __table_args__ = (CheckConstraint("price > 0", name="price_positive"),)

    schedule_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    color: Mapped[str] = mapped_column(String(32), server_default="")
    seat_count: Mapped[int] = mapped_column(Integer)


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
        Index("ix_seats_schedule_id_zone_id_number", "schedule_id", "zone_id", "number"),
        Index("ix_seats_schedule_id_class_name_number", "schedule_id", "class_name", "number"),
        # One probe finds an unsold seat of a date, however many are sold (the payment's check).
        Index("ix_seats_unsold", "schedule_id", "id", postgresql_where=text("status <> 'SOLD'")),
    )

    schedule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default="AVAILABLE")
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer, server_default="0")
    zone_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("zones.id"))
    row: Mapped[str] = mapped_column(String(64), server_default="1")
    label: Mapped[str] = mapped_column(String(64), server_default="")
    class_name: Mapped[str] = mapped_column(String(64), server_default="Standard")

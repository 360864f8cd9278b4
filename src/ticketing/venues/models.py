from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketing.kernel.orm import Base, CreatedAtMixin, IdMixin


class Venue(IdMixin, CreatedAtMixin, Base):
    """A seating plan as uploaded (``plan``: its JSON, served as stored) and what was read from it."""

    __tablename__ = "venues"
    __table_args__ = (CheckConstraint("seat_count BETWEEN 1 AND 100000", name="seat_count_in_range"),)

    name: Mapped[str] = mapped_column(String(200))
    seat_count: Mapped[int] = mapped_column(Integer)
    categories: Mapped[Any] = mapped_column(JSONB)
    plan: Mapped[bytes] = mapped_column(LargeBinary)
    plan_etag: Mapped[str] = mapped_column(String(64))


class Zone(IdMixin, Base):
    """A zone of a venue, or the one zone of a date made from seat_count (never both)."""

    __tablename__ = "zones"
    __table_args__ = (
        CheckConstraint("(venue_id IS NULL) <> (schedule_id IS NULL)", name="one_owner"),
        CheckConstraint("seat_count >= 0", name="seat_count_not_negative"),
        Index("ix_zones_venue_id_ordinal", "venue_id", "ordinal"),
        Index("ix_zones_schedule_id", "schedule_id"),
    )

    venue_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("venues.id", ondelete="CASCADE"))
    schedule_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    ordinal: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float, server_default="0")
    y: Mapped[float] = mapped_column(Float, server_default="0")
    seat_count: Mapped[int] = mapped_column(Integer)


class VenueSeat(Base):
    """A seat of a venue's plan: the template every date on the venue copies its seats from.
    ``number`` is the seat's place in the plan (zone by zone, row by row, left to right), so
    consecutive numbers in one row are seats side by side."""

    __tablename__ = "venue_seats"
    __table_args__ = (
        UniqueConstraint("venue_id", "guid", name="uq_venue_seats_venue_id_guid"),
        CheckConstraint("number > 0", name="number_positive"),
    )

    venue_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("venues.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("zones.id"))
    row: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    class_name: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str] = mapped_column(String(128))

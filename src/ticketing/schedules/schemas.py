from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import msgspec

# The years a date may be in (see below), stated in the OpenAPI document as a pattern.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True, extra_json_schema={"pattern": "^20[0-9]{2}-"})]
MAX_PRICE = 10_000_000
# Dates of a sale, bounded: at the ends of the calendar asyncpg reads 0001-01-01 back as a naive
# datetime.min (comparisons with it were a 500) and hold or refund arithmetic overflows.
EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2100, 1, 1, tzinfo=UTC)


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: AwareDatetime
    reservation_opens_at: AwareDatetime
    reservation_closes_at: AwareDatetime
    price: Annotated[int, msgspec.Meta(ge=1, le=MAX_PRICE)]
    seat_count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 50

    def __post_init__(self) -> None:  # a ValueError here is a msgspec.ValidationError: 422
        for name in ("starts_at", "reservation_opens_at", "reservation_closes_at"):
            if not EARLIEST_DATE <= getattr(self, name) < LATEST_DATE:
                raise ValueError(f"{name} must be in the years 2000 to 2099")


class SeatBrief(msgspec.Struct):
    id: int
    number: int
    price: int


class ScheduleCreatedOut(msgspec.Struct):
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime
    seats: list[SeatBrief]


class ScheduleOut(msgspec.Struct):
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime
    available_seats: int


class SeatOut(msgspec.Struct):
    id: int
    schedule_id: int
    number: int
    price: int
    available: bool


class ScheduleSales(msgspec.Struct):
    schedule_id: int
    starts_at: datetime
    available: int
    held: int
    sold: int
    revenue: int


@dataclass(frozen=True, slots=True)
class SeatRow:
    """A seat as the hold path sees it (other domains get it from ``ScheduleService``)."""

    id: int
    schedule_id: int
    number: int
    price: int
    status: str
    held_until: datetime | None
    version: int
    free: bool  # available, or held with a lapsed hold (as of the transaction's now())

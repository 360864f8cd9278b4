from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import msgspec

from ticketing.kernel.ids import MAX_ID
from ticketing.kernel.jsonschema import exactly_one_of

# The years a date may be in (see below), stated in the OpenAPI document as a pattern.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True, extra_json_schema={"pattern": "^20[0-9]{2}-"})]
MAX_PRICE = 10_000_000
# Dates of a sale, bounded: at the ends of the calendar asyncpg reads 0001-01-01 back as a naive
# datetime.min (comparisons with it were a 500) and hold or refund arithmetic overflows.
EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2100, 1, 1, tzinfo=UTC)


# The zone and the class of a date made from seat_count and price (the migration says the same).
PLAIN_ZONE = "Hall"
PLAIN_CLASS = "Standard"
MAX_PLAIN_SEATS = 10_000
Price = Annotated[int, msgspec.Meta(ge=1, le=MAX_PRICE)]


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    """A date with seats numbered 1..seat_count at one ``price``, or a date on a venue
    (``venue_id``) with a price for every category of its plan (``prices``): one of the two."""

    __openapi_extra__: ClassVar[dict[str, Any]] = exactly_one_of("price", "venue_id")
    starts_at: AwareDatetime
    reservation_opens_at: AwareDatetime
    reservation_closes_at: AwareDatetime
    price: Price | None = None
    seat_count: Annotated[int, msgspec.Meta(ge=1, le=MAX_PLAIN_SEATS)] | None = None
    venue_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None = None
    prices: (
        Annotated[
            dict[Annotated[str, msgspec.Meta(min_length=1, max_length=64)], Price],
            msgspec.Meta(min_length=1, max_length=64),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:  # a ValueError here is a msgspec.ValidationError: 422
        for name in ("starts_at", "reservation_opens_at", "reservation_closes_at"):
            if not EARLIEST_DATE <= getattr(self, name) < LATEST_DATE:
                raise ValueError(f"{name} must be in the years 2000 to 2099")
        if (self.price is None) == (self.venue_id is None):
            raise ValueError("send either seat_count and price, or venue_id and prices")
        if self.venue_id is not None and (self.seat_count is not None or self.prices is None):
            raise ValueError("a date on a venue takes prices (one per category) and no seat_count")
        if self.price is not None and self.prices is not None:
            raise ValueError("prices is for a date on a venue (venue_id)")


class ClassOut(msgspec.Struct):
    name: str
    price: int
    seat_count: int


class ClassAvailability(msgspec.Struct):
    name: str
    price: int
    available: int
    color: str  # the plan's colour of the category (pages also name the class in words)


class SeatBrief(msgspec.Struct):
    id: int
    number: int
    price: int
    zone: str
    row: str
    label: str
    class_: str = msgspec.field(name="class")


class ScheduleCreatedOut(msgspec.Struct, omit_defaults=True):
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime
    seat_count: int
    classes: list[ClassOut]
    venue_id: int | None = None  # absent: a date made from seat_count and price
    # A date made from seat_count and price: its seats (a date on a venue: none, and the field
    # is left out: omit_defaults).
    seats: list[SeatBrief] = msgspec.field(default_factory=list)


class ScheduleOut(msgspec.Struct):
    id: int
    concert_id: int
    starts_at: datetime
    reservation_opens_at: datetime
    reservation_closes_at: datetime
    available_seats: int
    classes: list[ClassAvailability]
    venue_id: int | None = None


class SeatOut(msgspec.Struct):
    id: int
    schedule_id: int
    number: int
    price: int
    available: bool
    zone: str
    row: str
    label: str
    class_: str = msgspec.field(name="class")


class ZoneMapOut(msgspec.Struct):
    id: int
    name: str
    available: int
    seat_count: int
    available_by_class: dict[str, int]
    x: float
    y: float


class SeatMapOut(msgspec.Struct):
    """The seat map of a date: its classes and zones with what is left (GET .../seat-map)."""

    schedule_id: int
    venue_id: int | None
    classes: list[ClassAvailability]
    zones: list[ZoneMapOut]


class ZoneSeatOut(msgspec.Struct):
    id: int
    row: str
    label: str
    class_: str = msgspec.field(name="class")
    price: int = msgspec.field()
    available: bool = msgspec.field()


class ZoneSeatsOut(msgspec.Struct):
    schedule_id: int
    zone_id: int
    seats: list[ZoneSeatOut]


class ScheduleSales(msgspec.Struct):
    schedule_id: int
    starts_at: datetime
    available: int
    held: int
    sold: int
    revenue: int
    # The date's sale window: what the operator's page reads the sale's state from.
    reservation_opens_at: datetime
    reservation_closes_at: datetime


class ClassSales(msgspec.Struct):
    """One price class of a date: its seats free / held / sold now (sell-through is sold over
    seat_count)."""

    schedule_id: int
    name: str
    price: int
    color: str
    seat_count: int
    available: int
    held: int
    sold: int


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

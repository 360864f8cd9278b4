"""Seating plans in pretix's JSON format (``zones -> rows -> seats``, each seat with a position
and a category) and the venues made from them. Fields of the format this service does not use
(``areas``, a seat's ``radius`` or ``seat_label``, a zone's ``zone_id``, ...) are accepted and
kept: the plan is stored and served as it was uploaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

MAX_SEATS = 100_000
# The operator's endpoint takes bodies this large (a 100,000-seat plan is about 12 MB of JSON);
# every other endpoint keeps TICKETING_MAX_BODY_BYTES.
MAX_PLAN_BYTES = 16 * 1024 * 1024

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ClassName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Label = Annotated[str, msgspec.Meta(max_length=64)]
Guid = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Color = Annotated[str, msgspec.Meta(max_length=32)]


class Position(msgspec.Struct):
    x: float
    y: float


class Size(msgspec.Struct):
    width: float
    height: float


class PlanSeat(msgspec.Struct):
    seat_guid: Guid
    seat_number: Label
    position: Position
    category: ClassName


class PlanRow(msgspec.Struct):
    row_number: Label
    seats: list[PlanSeat]
    position: Position | None = None


class PlanZone(msgspec.Struct):
    name: Name
    position: Position
    rows: list[PlanRow]
    areas: list[Any] = msgspec.field(default_factory=list)


class PlanCategory(msgspec.Struct):
    name: ClassName
    color: Color | None = None


class SeatingPlan(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=200)]
    categories: list[PlanCategory]
    zones: list[PlanZone]
    size: Size | None = None


class VenueIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    # pretix's seating-plan JSON; read whole by the service (422 INVALID_SEATING_PLAN naming the
    # first fault), so that a fault deep inside it gets that code rather than the generic one.
    plan: dict[str, Any]


class ZoneOut(msgspec.Struct):
    id: int
    name: str
    seat_count: int


class CategoryOut(msgspec.Struct):
    name: str
    color: str


class VenueOut(msgspec.Struct):
    id: int
    name: str
    seat_count: int
    zones: list[ZoneOut]
    categories: list[CategoryOut]


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    """A zone as other domains see it (the seat map)."""

    id: int
    name: str
    x: float
    y: float
    seat_count: int


@dataclass(frozen=True, slots=True)
class TemplateSeat:
    number: int
    zone_ordinal: int
    row: str
    label: str
    class_name: str
    guid: str

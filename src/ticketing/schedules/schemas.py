from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
MAX_PRICE = 10_000_000


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: AwareDatetime
    reservation_opens_at: AwareDatetime
    reservation_closes_at: AwareDatetime
    price: Annotated[int, msgspec.Meta(ge=1, le=MAX_PRICE)]
    seat_count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 50


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

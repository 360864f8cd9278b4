from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from ticketing.core.params import MAX_ID

ReservationStatus = Literal["HELD", "CONFIRMED", "EXPIRED", "CANCELLED"]


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    seat_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class ReservationOut(msgspec.Struct):
    id: int
    seat_id: int
    schedule_id: int
    user_id: int
    status: ReservationStatus
    price: int
    held_until: datetime
    seat_number: int


class ReservationPage(msgspec.Struct):
    items: list[ReservationOut]
    next_cursor: str | None

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


class AddressHolds(msgspec.Struct):
    """Live holds of one date from one client address (what the per-address cap counts)."""

    schedule_id: int
    address: str
    holds: int
    accounts: int  # distinct accounts behind the address: many with few holds each is the hoarding pattern


class AccountHolds(msgspec.Struct):
    user_id: int
    name: str
    holds: int


class TopHolders(msgspec.Struct):
    """Who holds the most seats of a concert right now (live holds only), most first."""

    addresses: list[AddressHolds]
    accounts: list[AccountHolds]

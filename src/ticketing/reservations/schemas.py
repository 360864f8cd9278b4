from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from ticketing.core.openapi import exactly_one_of
from ticketing.core.params import MAX_ID

# REFUNDED: paid, then the payment was refunded (POST /payments/{id}/refund); the seat is on sale again.
ReservationStatus = Literal["HELD", "CONFIRMED", "EXPIRED", "CANCELLED", "REFUNDED"]


SeatId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
# The most seats a request may name; the setting TICKETING_MAX_SEATS_PER_HOLD (default 4, at most
# this) is what the service allows.
MAX_SEATS_PER_REQUEST = 20


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    """One seat (``seat_id``, answered with the reservation) or several of one date at once
    (``seat_ids``, answered with ``{items}``, all or nothing): exactly one of the two."""

    __openapi_extra__: ClassVar[dict[str, Any]] = exactly_one_of("seat_id", "seat_ids")
    seat_id: SeatId | None = None
    seat_ids: Annotated[list[SeatId], msgspec.Meta(min_length=1, max_length=MAX_SEATS_PER_REQUEST)] | None = None

    def __post_init__(self) -> None:  # a ValueError here is a msgspec.ValidationError: 422
        if (self.seat_id is None) == (self.seat_ids is None):
            raise ValueError("send exactly one of seat_id and seat_ids")


class ReservationOut(msgspec.Struct):
    id: int
    seat_id: int
    schedule_id: int
    user_id: int
    status: ReservationStatus
    price: int
    held_until: datetime
    seat_number: int


class ReservationList(msgspec.Struct):
    """The reservations of one hold of several seats, in the order asked for."""

    items: list[ReservationOut]


class ReservationPage(msgspec.Struct):
    items: list[ReservationOut]
    next_cursor: str | None


class Allowance(msgspec.Struct):
    """The fan's seats of one date against the per-fan ticket limit (TICKETING_MAX_TICKETS_PER_FAN).
    ``held`` counts live holds only, ``paid`` paid seats not refunded; ``remaining`` is how many
    more seats of the date a hold may take now: the limit less both, and no more than the per-fan
    hold cap (TICKETING_MAX_HOLDS_PER_USER, live holds of every date) leaves."""

    schedule_id: int
    max_tickets: int
    held: int
    paid: int
    remaining: int


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

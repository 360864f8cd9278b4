from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from ticketing.kernel.ids import MAX_ID
from ticketing.kernel.jsonschema import exactly_one_of, setting_bound

# REFUNDED: paid, then the payment was refunded (POST /payments/{id}/refund); the seat is on sale again.
ReservationStatus = Literal["HELD", "CONFIRMED", "EXPIRED", "CANCELLED", "REFUNDED"]


SeatId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
# The most seats a request may name; the setting TICKETING_MAX_SEATS_PER_HOLD (default 4, at most
# this) is what the service allows.
MAX_SEATS_PER_REQUEST = 20


def _hold_in_schema() -> dict[str, Any]:
    """Exactly one of seat_id, seat_ids and schedule_id; schedule_id comes with class and quantity."""
    schema = exactly_one_of("seat_id", "seat_ids", "schedule_id")
    for option in schema["oneOf"]:
        best_available = option["required"] == ["schedule_id"]
        for name in ("class", "quantity"):
            option["properties"][name] = {"not": {"type": "null"}} if best_available else {"type": "null"}
        if best_available:
            option["required"] = ["schedule_id", "class", "quantity"]
    return schema


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    """One seat (``seat_id``, answered with the reservation), several of one date at once
    (``seat_ids``, answered with ``{items}``, all or nothing), or the best ``quantity`` seats of
    a class of a date (``schedule_id``, ``class``, ``quantity``: ``{items}``, all or nothing)."""

    __openapi_extra__: ClassVar[dict[str, Any]] = _hold_in_schema()
    seat_id: SeatId | None = None
    seat_ids: Annotated[list[SeatId], msgspec.Meta(min_length=1, max_length=MAX_SEATS_PER_REQUEST)] | None = None
    schedule_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None = None
    class_: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = msgspec.field(default=None, name="class")
    quantity: (
        Annotated[
            int,
            msgspec.Meta(ge=1, le=MAX_SEATS_PER_REQUEST, extra=setting_bound(maximum="max_seats_per_hold")),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:  # a ValueError here is a msgspec.ValidationError: 422
        if sum(choice is not None for choice in (self.seat_id, self.seat_ids, self.schedule_id)) != 1:
            raise ValueError("send exactly one of seat_id, seat_ids and schedule_id (with class and quantity)")
        if (self.schedule_id is None) != (self.class_ is None) or (self.schedule_id is None) != (self.quantity is None):
            raise ValueError("schedule_id, class and quantity go together (best available)")


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

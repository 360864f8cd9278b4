from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from ticketing.kernel.ids import MAX_ID

TicketStatus = Literal["VALID", "USED", "REFUNDED"]

# What a door may send: the code as the QR code carries it (32 hex digits, tickets/sql.py); lower
# case is taken too (typed by hand). ``\Z``: in Python ``$`` also matches before a final newline.
CODE_PATTERN = r"^[0-9A-Fa-f]{32}\Z"
_CODE = re.compile(CODE_PATTERN)


def normal_code(code: str) -> str | None:
    """The stored form of a code a client sent (upper case), or None when it cannot be one."""
    return code.upper() if _CODE.match(code) else None


class CheckInIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN, description="The ticket's code, as its QR code carries it")]
    schedule_id: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                le=MAX_ID,
                description="The date this door serves: a ticket of another date is refused (409 "
                "TICKET_WRONG_SCHEDULE) and stays VALID. Absent: any date's ticket",
            ),
        ]
        | None
    ) = None


class TicketConcert(msgspec.Struct):
    id: int
    title: str
    venue: str | None


class TicketSchedule(msgspec.Struct):
    id: int
    starts_at: datetime


class TicketSeat(msgspec.Struct):
    id: int
    number: int


class TicketOut(msgspec.Struct):
    id: int
    code: str
    status: TicketStatus
    concert: TicketConcert
    schedule: TicketSchedule
    seat: TicketSeat
    reservation_id: int
    payment_id: int
    checked_in_at: datetime | None


class TicketPage(msgspec.Struct):
    items: list[TicketOut]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TicketRow:
    """A ticket as stored (other domains get it from ``TicketService``: a refund voids it)."""

    id: int
    code: str
    status: str
    user_id: int
    concert_id: int
    schedule_id: int
    seat_id: int
    seat_number: int
    reservation_id: int
    payment_id: int
    checked_in_at: datetime | None


class DoorDate(msgspec.Struct):
    """A date a door can serve."""

    schedule_id: int
    starts_at: datetime
    concert: TicketConcert


class DoorCount(msgspec.Struct):
    """A date's door, live: tickets checked in, and tickets sold (valid or checked in; refunded
    ones are not)."""

    schedule_id: int
    starts_at: datetime
    concert: TicketConcert
    checked_in: int
    sold: int

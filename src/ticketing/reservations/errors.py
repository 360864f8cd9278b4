from collections.abc import Sequence

from ticketing.kernel.errors import Conflict, Forbidden, NotFound, ValidationError


class SeatNotFound(NotFound):
    code = "SEAT_NOT_FOUND"
    title = "Seat not found"


class SeatUnavailable(Conflict):
    code = "SEAT_UNAVAILABLE"
    title = "This seat is already held or sold"


# Where a hold was refused: the problem's ``reason`` member, for clients and the lock study's
# burst (which counts the refusals by it), and a wording of it in ``detail``.
TAKEN = "taken"  # the unlocked first read saw it taken
LOCKED = "locked"  # the seat's Redis lock is someone else's
TAKEN_UNDER_LOCK = "taken_under_lock"  # the seat looked free, the locked check said taken
HELD_TWICE = "unique_index"  # the locks let a second hold by; the partial unique index refused it
SOLD_OUT = "sold_out"  # fewer seats of the class than asked are left (best available)
_WORDING = {
    TAKEN: "already held or sold",
    LOCKED: "being held by another request right now",
    TAKEN_UNDER_LOCK: "taken by a concurrent hold",
}


def seats_unavailable(seat_ids: Sequence[int], reason: str = TAKEN) -> SeatUnavailable:
    """The answer naming the taken seats of a hold (``unavailable_seat_ids``); nothing was held."""
    ids = sorted(seat_ids)
    noun = "seat is" if len(ids) == 1 else "seats are"
    return SeatUnavailable(
        f"{len(ids)} {noun} {_WORDING[reason]}; nothing was held", unavailable_seat_ids=ids, reason=reason
    )


class InvalidSeatSelection(ValidationError):
    title = "The seats asked for cannot be held together"


class ReservationNotFound(NotFound):
    code = "RESERVATION_NOT_FOUND"
    title = "Reservation not found"


class ReservationUserMismatch(Forbidden):
    code = "RESERVATION_USER_MISMATCH"
    title = "This reservation is held by another user"


class ReservationNotHeld(Conflict):
    code = "RESERVATION_NOT_HELD"
    title = "This reservation is already paid, cancelled or expired"


class ReservationExpired(Conflict):
    code = "RESERVATION_EXPIRED"
    title = "The hold expired before payment"


class HoldLimitReached(Conflict):
    code = "HOLD_LIMIT_REACHED"
    title = "You already hold the most seats one fan may hold at once"


class TicketLimitReached(Conflict):
    """The fan's held and paid seats of one date would pass TICKETING_MAX_TICKETS_PER_FAN."""

    code = "TICKET_LIMIT_REACHED"
    title = "You already have the most seats of this date one fan may take"

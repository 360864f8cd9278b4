from ticketing.kernel.errors import Conflict, Forbidden, NotFound


class TicketNotFound(NotFound):
    code = "TICKET_NOT_FOUND"
    title = "Ticket not found"


class TicketUserMismatch(Forbidden):
    code = "TICKET_USER_MISMATCH"
    title = "This ticket belongs to another fan"


class TicketAlreadyUsed(Conflict):
    """Carries ``checked_in_at``: when the ticket was first checked in."""

    code = "TICKET_ALREADY_USED"
    title = "This ticket was already used at the door"


class TicketRefunded(Conflict):
    code = "TICKET_REFUNDED"
    title = "This ticket was refunded"


class TicketWrongSchedule(Conflict):
    """Carries the ticket's own ``schedule_id`` and ``starts_at``: the door can tell the fan which
    date the ticket is for. The ticket stays VALID."""

    code = "TICKET_WRONG_SCHEDULE"
    title = "This ticket is for another date"

"""Imports every model so that Alembic sees the whole schema."""

from ticketing.concerts.models import Concert
from ticketing.idempotency.models import IdempotencyRecord
from ticketing.kernel.orm import Base
from ticketing.payments.models import Payment
from ticketing.reservations.models import Reservation
from ticketing.schedules.models import Schedule, ScheduleClass, Seat
from ticketing.tickets.models import Ticket
from ticketing.users.models import User
from ticketing.venues.models import Venue, VenueSeat, Zone
from ticketing.wallets.models import LedgerEntry, Wallet

metadata = Base.metadata

__all__ = [
    "Concert",
    "IdempotencyRecord",
    "LedgerEntry",
    "Payment",
    "Reservation",
    "Schedule",
    "ScheduleClass",
    "Seat",
    "Ticket",
    "User",
    "Venue",
    "VenueSeat",
    "Wallet",
    "Zone",
    "metadata",
]

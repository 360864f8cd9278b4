from __future__ import annotations

import msgspec

from ticketing.concerts.schemas import ConcertOut
from ticketing.payments.schemas import SalesTimeline
from ticketing.reservations.schemas import TopHolders
from ticketing.schedules.schemas import ClassSales, ScheduleSales
from ticketing.waiting_room.schemas import QueueSample, QueueStats


class SaleClosed(msgspec.Struct):
    """A sale closed early: the dates whose reservation window was ended now, and the queue (paused)."""

    closed_schedule_ids: list[int]
    queue: QueueStats


class SaleDashboard(msgspec.Struct):
    concert: ConcertOut
    queue: QueueStats
    schedules: list[ScheduleSales]
    seats_available: int
    seats_held: int
    seats_sold: int
    revenue: int
    top_holders: TopHolders


class SalesReport(msgspec.Struct):
    """What the operator's charts are drawn from: payments over time, and each price class's
    seats free / held / sold (all dates, or the one ``schedule_id`` asked for)."""

    timeline: SalesTimeline
    classes: list[ClassSales]
    # The concert's queue over the last two hours, one sample every 5 s (empty without a queue).
    queue: list[QueueSample] = msgspec.field(default_factory=list)

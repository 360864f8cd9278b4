from __future__ import annotations

import msgspec

from ticketing.concerts.schemas import ConcertOut
from ticketing.reservations.schemas import TopHolders
from ticketing.schedules.schemas import ScheduleSales
from ticketing.waiting_room.schemas import QueueStats


class SaleDashboard(msgspec.Struct):
    concert: ConcertOut
    queue: QueueStats
    schedules: list[ScheduleSales]
    seats_available: int
    seats_held: int
    seats_sold: int
    revenue: int
    top_holders: TopHolders

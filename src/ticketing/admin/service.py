"""The operator's live view of a sale, assembled from the domains that own each figure."""

from __future__ import annotations

from ticketing.admin.schemas import SaleDashboard
from ticketing.concerts.service import ConcertService
from ticketing.reservations.service import ReservationService
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.service import WaitingRoomService


class AdminService:
    def __init__(
        self,
        concerts: ConcertService,
        schedules: ScheduleService,
        waiting_room: WaitingRoomService,
        reservations: ReservationService,
    ) -> None:
        self._concerts = concerts
        self._schedules = schedules
        self._waiting_room = waiting_room
        self._reservations = reservations

    async def dashboard(self, concert_id: int) -> SaleDashboard:
        concert = await self._concerts.get_concert(concert_id)
        sales = await self._schedules.sales(concert_id)
        return SaleDashboard(
            concert=concert,
            queue=await self._waiting_room.stats(concert_id),
            schedules=sales,
            seats_available=sum(s.available for s in sales),
            seats_held=sum(s.held for s in sales),
            seats_sold=sum(s.sold for s in sales),
            revenue=sum(s.revenue for s in sales),
            top_holders=await self._reservations.top_holders(concert_id),
        )

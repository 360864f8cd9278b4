"""The operator's live view of a sale, assembled from the domains that own each figure, and the
reports drawn from it (the charts' series, the orders CSV)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

from ticketing.admin.schemas import SaleClosed, SaleDashboard, SalesReport
from ticketing.concerts.service import ConcertService
from ticketing.kernel import deadline
from ticketing.kernel.spreadsheet import csv_lines
from ticketing.payments.service import PaymentService
from ticketing.reservations.service import ReservationService
from ticketing.schedules.errors import ScheduleNotFound
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.schemas import QueueStats
from ticketing.waiting_room.service import WaitingRoomService

ORDER_COLUMNS = (
    "payment_id",
    "paid_at",
    "status",
    "refunded_at",
    "amount",
    "user_id",
    "user_name",
    "schedule_id",
    "starts_at",
    "zone",
    "row",
    "seat",
    "class",
)
ORDERS_PER_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AdminService:
    concerts: ConcertService
    schedules: ScheduleService
    waiting_room: WaitingRoomService
    reservations: ReservationService
    payments: PaymentService

    async def dashboard(self, concert_id: int) -> SaleDashboard:
        concert = await self.concerts.get_concert(concert_id)
        sales = await self.schedules.sales(concert_id)
        return SaleDashboard(
            concert=concert,
            queue=await self.waiting_room.stats(concert_id),
            schedules=sales,
            seats_available=sum(s.available for s in sales),
            seats_held=sum(s.held for s in sales),
            seats_sold=sum(s.sold for s in sales),
            revenue=sum(s.revenue for s in sales),
            top_holders=await self.reservations.top_holders(concert_id),
        )

    async def pause(self, concert_id: int) -> QueueStats:
        """Recorded in PostgreSQL (it outlives Redis' data) and set in Redis, where the admission
        script reads it; 404 for an unknown concert."""
        return await self._set_paused(concert_id, True)

    async def resume(self, concert_id: int) -> QueueStats:
        return await self._set_paused(concert_id, False)

    async def _set_paused(self, concert_id: int, paused: bool) -> QueueStats:
        return await self.concerts.set_sale_paused(
            concert_id, paused, lambda: self.waiting_room.set_paused(concert_id, paused)
        )

    async def close(self, concert_id: int) -> SaleClosed:
        """Pause admission first (nobody more is let in), then end the open dates' windows (no
        new hold; holds already made may still be paid until they end)."""
        queue = await self._set_paused(concert_id, True)
        closed = await self.schedules.close_sales(concert_id)
        return SaleClosed(closed_schedule_ids=closed, queue=queue)

    async def _check_date(self, concert_id: int, schedule_id: int | None) -> None:
        """The concert exists and ``schedule_id``, if given, is one of its dates (else 404)."""
        await self.concerts.ensure_exists(concert_id)
        if schedule_id is not None and (await self.schedules.schedule(schedule_id)).concert_id != concert_id:
            raise ScheduleNotFound()

    async def sales_report(self, concert_id: int, schedule_id: int | None) -> SalesReport:
        await self._check_date(concert_id, schedule_id)
        classes = await self.schedules.class_sales(concert_id)
        return SalesReport(
            timeline=await self.payments.sales_timeline(concert_id, schedule_id),
            classes=[c for c in classes if schedule_id is None or c.schedule_id == schedule_id],
            queue=await self.waiting_room.history(concert_id),
        )

    async def orders_csv(self, concert_id: int, schedule_id: int | None) -> AsyncIterator[bytes]:
        """The concert's (or one date's) paid seats as CSV, checked before the first byte (a bad
        id is a 404, not a broken download), then streamed a page of ``ORDERS_PER_PAGE`` at a time:
        each page is its own short read, so a slow download holds no transaction nor connection,
        and each runs without the request's deadline, which is for the request, not the download."""
        await self._check_date(concert_id, schedule_id)
        return self._order_pages(concert_id, schedule_id)

    async def _order_pages(self, concert_id: int, schedule_id: int | None) -> AsyncIterator[bytes]:
        yield csv_lines([ORDER_COLUMNS])
        after = 0
        while True:
            page = await asyncio.create_task(
                self.payments.order_lines(concert_id, schedule_id, after, ORDERS_PER_PAGE),
                context=deadline.unbounded(),
            )
            if not page:
                return
            yield csv_lines(msgspec.structs.astuple(line) for line in page)
            after = page[-1].payment_id

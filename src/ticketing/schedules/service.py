"""Schedules and seats (seed flows 5 and 6) and what operators create.

The two reads are the hottest of a sale, so each is one indexed query whose encoded answer is
kept in-process for at most ``TICKETING_SEAT_CACHE_SECONDS`` (default 0.5 s). A hold, payment,
release or expiry handled by this process drops the entry at once; one handled by another
process is seen within that bound. So a seat sold or held is never shown as available for longer
than ``seat_cache_seconds`` (and never sold twice: the cache only feeds the read endpoints, the
hold and payment paths always decide on the database).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import msgspec

from ticketing.concerts.service import ConcertService
from ticketing.core.singleflight import SingleFlight
from ticketing.core.uow import UnitOfWorkFactory
from ticketing.schedules.errors import InvalidSchedule, ScheduleNotFound, ScheduleNotOpen
from ticketing.schedules.repository import ScheduleRepository, ScheduleRow
from ticketing.schedules.schemas import ScheduleCreatedOut, ScheduleIn, ScheduleSales
from ticketing.waiting_room.service import AdmittedToken, WaitingRoomService

SCHEDULE_META_SECONDS = 30.0  # schedules are not edited once created


class ScheduleService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        concerts: ConcertService,
        waiting_room: WaitingRoomService,
        seat_cache_seconds: float,
    ) -> None:
        self._uow_factory = uow_factory
        self._concerts = concerts
        self._waiting_room = waiting_room
        self.cache_seconds = seat_cache_seconds
        self._meta: dict[int, tuple[float, ScheduleRow]] = {}
        self._seat_pages: dict[int, tuple[float, bytes]] = {}
        self._open_lists: dict[int, tuple[float, bytes]] = {}
        self._reads: SingleFlight[tuple[int, int], bytes] = SingleFlight()

    async def create_schedule(self, concert_id: int, data: ScheduleIn) -> ScheduleCreatedOut:
        if not data.reservation_opens_at < data.reservation_closes_at <= data.starts_at:
            raise InvalidSchedule("reservation_opens_at < reservation_closes_at <= starts_at is required")
        await self._concerts.ensure_exists(concert_id)
        async with self._uow_factory() as uow:
            repo = ScheduleRepository(uow.conn)
            schedule = await repo.add(concert_id, data.starts_at, data.reservation_opens_at, data.reservation_closes_at)
            seats = await repo.add_seats(schedule.id, data.seat_count, data.price)
            await uow.commit()
        self._open_lists.pop(concert_id, None)
        await self._waiting_room.clear_sold_out(concert_id)  # a new date has seats: admit again
        return ScheduleCreatedOut(
            id=schedule.id,
            concert_id=schedule.concert_id,
            starts_at=schedule.starts_at,
            reservation_opens_at=schedule.reservation_opens_at,
            reservation_closes_at=schedule.reservation_closes_at,
            seats=seats,
        )

    async def schedule(self, schedule_id: int) -> ScheduleRow:
        cached = self._meta.get(schedule_id)
        if cached is not None and time.monotonic() - cached[0] < SCHEDULE_META_SECONDS:
            return cached[1]
        async with self._uow_factory(autocommit=True) as uow:
            row = await ScheduleRepository(uow.conn).get(schedule_id)
        if row is None:
            raise ScheduleNotFound()
        self._meta[schedule_id] = (time.monotonic(), row)
        return row

    async def open_schedule(self, schedule_id: int, admitted: AdmittedToken | None = None) -> ScheduleRow:
        """The schedule, checked to exist, to belong to the token's concert and to be open now."""
        schedule = await self.schedule(schedule_id)
        if admitted is not None:
            admitted.ensure_concert(schedule.concert_id)
        if not schedule.is_open(datetime.now(UTC)):
            raise ScheduleNotOpen(
                f"reservations are open from {schedule.reservation_opens_at.isoformat()} "
                f"to {schedule.reservation_closes_at.isoformat()}"
            )
        return schedule

    async def open_schedules(self, user_id: int, queue_token: str | None, concert_id: int) -> bytes:
        admitted = await self._waiting_room.require_pass(queue_token, user_id)
        await self._concerts.ensure_exists(concert_id)
        admitted.ensure_concert(concert_id)
        return await self._fresh_enough(
            self._open_lists, concert_id, lambda repo: repo.open_with_seats_left(concert_id)
        )

    async def seats(self, user_id: int, queue_token: str | None, schedule_id: int) -> bytes:
        admitted = await self._waiting_room.require_pass(queue_token, user_id)
        await self.open_schedule(schedule_id, admitted)
        return await self._fresh_enough(self._seat_pages, schedule_id, lambda repo: repo.seats(schedule_id))

    async def _fresh_enough(
        self,
        cache: dict[int, tuple[float, bytes]],
        key: int,
        read: Callable[[ScheduleRepository], Awaitable[Sequence[msgspec.Struct]]],
    ) -> bytes:
        """The encoded answer, read again once it is older than ``cache_seconds``. One read at a
        time per entry: the requests that find it stale meanwhile wait for that read instead of
        sending their own (under load, dozens arrive in the millisecond a read takes)."""
        cached = cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]

        async def read_now() -> bytes:
            started = time.monotonic()  # the answer is as old as the moment the read began
            async with self._uow_factory(autocommit=True) as uow:
                body = msgspec.json.encode(await read(ScheduleRepository(uow.conn)))
            cache[key] = (started, body)
            return body

        return await self._reads.run((id(cache), key), read_now)

    def invalidate(self, schedule_id: int) -> None:
        """Called after a hold, payment, release or expiry in this process."""
        self._seat_pages.pop(schedule_id, None)
        meta = self._meta.get(schedule_id)
        if meta is not None:
            self._open_lists.pop(meta[1].concert_id, None)

    async def sales(self, concert_id: int) -> list[ScheduleSales]:
        await self._concerts.ensure_exists(concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            return await ScheduleRepository(uow.conn).sales(concert_id)

    async def concert_sold_out(self, concert_id: int) -> bool:
        async with self._uow_factory(autocommit=True) as uow:
            return await ScheduleRepository(uow.conn).concert_sold_out(concert_id)

"""Helpers of the waiting-room tests: a clock the test moves instead of sleeping, the room
configured for a test, the (status, code) of a refusal, and a date whose sale opens when a test
says."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta

from ticketing.container import Services
from ticketing.kernel.errors import AppError
from ticketing.schedules.schemas import ScheduleIn
from ticketing.waiting_room.service import WaitingRoomService


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def configure(services: Services, **settings: int) -> tuple[WaitingRoomService, FakeClock]:
    """The room with these settings and a fake clock. An admitted fan's choice window is the
    whole admission unless a test sets ``queue_choice_seconds``: tests of the admission's life
    need no hold."""
    clock = FakeClock()
    room = services.waiting_room
    settings.setdefault("queue_choice_seconds", 24 * 3600)
    room.settings = room.settings.model_copy(update=settings)
    room.clock = clock
    return room, clock


async def code_of(awaitable: Awaitable[object]) -> tuple[int, str]:
    try:
        await awaitable
    except AppError as error:
        return error.status, error.code
    raise AssertionError("expected an error")


async def open_sale_at(services: Services, concert_id: int, opens: datetime, seats: int = 5) -> None:
    """A date of the concert whose reservations open at ``opens``."""
    await services.schedules.create_schedule(
        concert_id,
        ScheduleIn(
            starts_at=opens + timedelta(days=2),
            reservation_opens_at=opens,
            reservation_closes_at=opens + timedelta(days=1),
            price=1_000,
            seat_count=seats,
        ),
    )

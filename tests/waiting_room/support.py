"""Helpers of the waiting-room tests: a clock the test moves instead of sleeping, the room
configured for a test, and the (status, code) of a refusal."""

from __future__ import annotations

from collections.abc import Awaitable

from ticketing.container import Services
from ticketing.core.errors import AppError
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

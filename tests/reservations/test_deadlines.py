"""Request deadlines: a hold that outlived its request's time is not committed (no ghost holds)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import admitted_token, create_concert, create_schedule, create_user
from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.reservations.repository import USER_HOLDS_LOCK_BASE

DEADLINE_SECONDS = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"request_deadline_seconds": DEADLINE_SECONDS})


async def test_a_hold_stalled_past_its_deadline_is_not_committed(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=2)
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    stalled_seat, next_seat = schedule.seats[0].id, schedule.seats[1].id

    # The hold waits for the fan's hold lock, held elsewhere for twice the deadline: by the time
    # it could commit, its client has given up.
    blocker = await asyncpg.connect(services.settings.database_dsn)  # not ours: no idle timeout
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT pg_advisory_xact_lock($1)", USER_HOLDS_LOCK_BASE + fan.id)
            stalled = asyncio.create_task(
                client.post("/api/v1/reservations", json={"seat_id": stalled_seat}, headers=headers)
            )
            await asyncio.sleep(2 * DEADLINE_SECONDS)
    finally:
        await blocker.close()
    answer = await stalled
    assert_problem(answer, 503, "SERVICE_UNAVAILABLE")
    assert answer.headers["retry-after"] == "1"
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM reservations") == 0
        assert await uow.conn.fetchval("SELECT status FROM seats WHERE id = $1", stalled_seat) == "AVAILABLE"

    # A hold that is not stalled is untouched by the deadline.
    held = await client.post("/api/v1/reservations", json={"seat_id": next_seat}, headers=headers)
    assert held.status_code == 201, held.text


async def test_postgresql_ends_a_transaction_left_idle_past_the_deadline(services: Services) -> None:
    """A worker stopped inside a transaction (SIGSTOP, a long pause) does not keep its locks: the
    server rolls the transaction back after the deadline."""
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SHOW idle_in_transaction_session_timeout") == "500ms"

"""The queue under concurrency, on real Redis."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from tests.cluster_support import REDIS_BACKENDS, settings_on_backend
from tests.factories import create_concert, create_user, join_queue
from ticketing.config import Settings
from ticketing.container import Services, build_services
from ticketing.kernel.db import create_pool
from ticketing.kernel.redis import create_redis


@pytest.fixture(params=REDIS_BACKENDS)
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """On the single server and on a 3-master Redis Cluster (tests/cluster_support.py)."""
    return settings_on_backend(request, settings)


async def test_1000_concurrent_issues_get_positions_1_to_1000_in_arrival_order(services: Services) -> None:
    concert = await create_concert(services)
    users = [await create_user(services) for _ in range(1000)]
    # 1,000 callers share the pool's connections; on a loaded test machine the last in line can wait
    # longer than the production 1 s bound, which is about outages, not what this test is about.
    patient = services.settings.model_copy(update={"redis_timeout_seconds": 30.0})
    redis = create_redis(patient)
    patient_services = build_services(patient, services.pool, redis)
    try:
        issued = await asyncio.gather(*(join_queue(patient_services, u.principal, concert) for u in users))
    finally:
        await redis.aclose()
    assert all(created for _, created in issued)
    assert sorted(t.position for t, _ in issued if t.position) == list(range(1, 1001))
    assert len({t.user_id for t, _ in issued}) == 1000
    assert len({t.token for t, _ in issued}) == 1000

    # Arrival order: the position each fan was told equals its rank by arrival number (which the
    # signed token carries), and Redis holds exactly those numbers.
    def arrival(token: str) -> int:
        return int(token.split(".")[3])

    # Without WITHSCORES the reply is the members alone, bytes (the client does not decode).
    waiting = cast(list[bytes], await services.redis.zrange(f"wr:{{{concert}}}:waiting", 0, -1))
    assert sorted(int(m) for m in waiting) == sorted(arrival(t.token) for t, _ in issued)
    by_arrival = sorted(issued, key=lambda pair: arrival(pair[0].token))
    assert [t.position for t, _ in by_arrival] == list(range(1, 1001))
    # Asking again, concurrently, returns each user's one live token.
    again = await asyncio.gather(*(join_queue(services, u.principal, concert) for u in users[:100]))
    assert [t.token for t, _ in again] == [t.token for t, _ in issued[:100]]
    assert not any(created for _, created in again)


async def test_concurrent_admitters_never_exceed_the_cap(services: Services) -> None:
    room = services.waiting_room
    room.settings = room.settings.model_copy(update={"queue_max_active": 50, "queue_admit_per_second": 1000})
    concert = await create_concert(services)
    users = [await create_user(services) for _ in range(300)]
    tokens = [(await join_queue(services, u.principal, concert))[0].token for u in users]
    admitted = await asyncio.gather(*(room.admit(concert) for _ in range(20)))
    assert sum(admitted) == 50
    statuses = await asyncio.gather(*(room.token_info(t) for t in tokens))
    assert [s.status for s in statuses[:50]] == ["ACTIVE"] * 50  # strictly the first 50 to arrive
    assert {s.status for s in statuses[50:]} == {"WAITING"}
    assert (await room.stats(concert)).active == 50


async def test_two_processes_sharing_redis_are_one_queue(services: Services) -> None:
    pool = await create_pool(services.settings.model_copy(update={"db_pool_size": 4}))
    redis = create_redis(services.settings)
    other = build_services(services.settings, pool, redis)
    try:
        concert = await create_concert(services)
        users = [await create_user(services) for _ in range(20)]
        issued = await asyncio.gather(
            *(join_queue((services if i % 2 else other), u.principal, concert) for i, u in enumerate(users))
        )
        assert sorted(t.position for t, _ in issued if t.position) == list(range(1, 21))
        # A token issued by one process is recognised by the other.
        token = issued[0][0].token
        assert (await services.waiting_room.token_info(token)).user.id == users[0].id
        assert (await join_queue(other, users[0].principal, concert))[0].token == token
    finally:
        await redis.aclose()
        await pool.close()

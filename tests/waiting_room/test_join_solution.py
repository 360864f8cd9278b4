"""A queue join's proof-of-work solution is used once, marked by the join script itself.

The gate checks a join's solution in the process (signature, expiry, action) and the batched join
script marks it used in Redis with the join, in the batch's one call: a solution that bought a
join before is refused (428 with a fresh challenge) and nothing is joined, however the joins that
carry it are raced, in one batch or in several processes. Redis unavailable: the join is a 503
and the solution stays unused."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.factories import create_concert, create_user
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.devservers.embedded import free_port
from ticketing.kernel.challenge import ChallengeGate, _decode, join_action, solve
from ticketing.kernel.errors import ChallengeRequired, ServiceUnavailable
from ticketing.kernel.redis import create_redis
from ticketing.waiting_room.service import WaitingRoomService
from ticketing.waiting_room.store import Joined, QueueStore, SolutionUsedBefore, concert_prefix

GATE = {"challenge_enabled": True, "challenge_max_number": 2000, "challenge_join_waiting": 0}


@pytest.fixture
def gated(settings: Settings) -> Settings:
    return settings.model_copy(update=GATE)


def room_on(store: QueueStore, settings: Settings) -> WaitingRoomService:
    """A server process's room: its own store (and Redis client), gate and join batches."""
    return WaitingRoomService(store, settings, gate=ChallengeGate(store.redis, settings))


async def arrivals(services: Services, concert: int) -> int:
    return int(await services.redis.get(concert_prefix(concert) + "seq") or 0)


async def test_one_solution_raced_by_fifty_joins_buys_exactly_one(services: Services, gated: Settings) -> None:
    """50 fans send one solution at once, half to each of two processes: each process's joins go
    to Redis in batches (so the solution is in one batch twice, and in the other process's batch),
    exactly one join passes and the 49 others are 428s with a fresh challenge each."""
    concert = await create_concert(services)
    fans = [await create_user(services) for _ in range(50)]
    other_redis = create_redis(gated)
    try:
        rooms = [room_on(services.waiting_room.store, gated), room_on(QueueStore(other_redis), gated)]
        solution = solve(rooms[0]._gate.issue(join_action(concert)))  # type: ignore[union-attr]
        outcomes = await asyncio.gather(
            *(
                rooms[i % 2].join(fan.principal, concert, sale_opens_at=None, solution=solution)
                for i, fan in enumerate(fans)
            ),
            return_exceptions=True,
        )
    finally:
        await other_redis.aclose()
    passed = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, ChallengeRequired)]
    assert len(passed) == 1 and len(refused) == 49, outcomes
    assert passed[0][1] and passed[0][0].position == 1
    salts = {refusal.extra["challenge"].salt for refusal in refused}
    assert len(salts) == 49 and _decode(solution).salt not in salts  # type: ignore[union-attr]
    assert await arrivals(services, concert) == 1
    joined = await services.redis.hgetall(concert_prefix(concert) + "users")
    assert list(joined) == [str(passed[0][0].user_id).encode()]


async def test_a_used_solution_joins_nobody_again(services: Services, gated: Settings) -> None:
    """Another fan, or the same fan again (who would otherwise get their live token back): 428,
    nothing joined; a fresh solution passes."""
    room = room_on(services.waiting_room.store, gated)
    gate = room._gate
    assert gate is not None
    concert = await create_concert(services)
    first, second = await create_user(services), await create_user(services)
    solution = solve(gate.issue(join_action(concert)))
    _, created = await room.join(first.principal, concert, sale_opens_at=None, solution=solution)
    assert created
    for fan in (second, first):
        with pytest.raises(ChallengeRequired) as refused:
            await room.join(fan.principal, concert, sale_opens_at=None, solution=solution)
        assert "used before" in refused.value.detail
    assert await arrivals(services, concert) == 1
    assert await services.redis.hget(concert_prefix(concert) + "users", str(second.id)) is None
    _, created = await room.join(
        second.principal, concert, sale_opens_at=None, solution=solve(gate.issue(join_action(concert)))
    )
    assert created and await arrivals(services, concert) == 2


async def test_one_script_call_marks_each_joins_own_solution(services: Services, gated: Settings) -> None:
    """Joins with and without solutions, and a late one, in one call: each solution is marked
    with its own join (the late join, which changed nothing, leaves its solution unused)."""
    store = services.waiting_room.store
    gate = ChallengeGate(services.redis, gated)
    concert = await create_concert(services)
    now = int(time.time() * 1000)
    marks = [
        (gate.check(join_action(concert), solve(gate.issue(join_action(concert)))) or ("", 0))[0] for _ in range(3)
    ]
    assert all(marks)
    a, none, late, b = await store.issue(
        concert,
        [(1, now, 0), (2, now, 0), (3, now, now - 1), (4, now, 0)],
        "epoch",
        solutions=[(marks[0], 60_000), None, (marks[1], 60_000), (marks[2], 60_000)],
    )
    assert isinstance(a, Joined) and isinstance(none, Joined) and isinstance(b, Joined)
    assert not isinstance(late, Joined)
    again = await store.issue(
        concert, [(5, now, 0), (6, now, 0), (7, now, 0)], "epoch", solutions=[(m, 60_000) for m in marks]
    )
    assert isinstance(again[0], SolutionUsedBefore) and isinstance(again[2], SolutionUsedBefore)
    assert isinstance(again[1], Joined) and again[1].created  # the late join's solution was unused
    assert await arrivals(services, concert) == 4


async def test_redis_unavailable_the_join_is_a_503_and_the_solution_stays_unused(
    services: Services, gated: Settings
) -> None:
    concert = await create_concert(services)
    fan = await create_user(services)
    solution = solve(ChallengeGate(services.redis, gated).issue(join_action(concert)))
    dead = gated.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 0.2})
    redis = create_redis(dead)
    try:
        with pytest.raises(ServiceUnavailable):
            await room_on(QueueStore(redis), dead).join(fan.principal, concert, sale_opens_at=None, solution=solution)
    finally:
        await redis.aclose()
    _, created = await room_on(services.waiting_room.store, gated).join(
        fan.principal, concert, sale_opens_at=None, solution=solution
    )
    assert created

"""The waiting room on real Redis, with a controllable clock instead of sleeps."""

from __future__ import annotations

import pytest

from tests.factories import admitted_token, create_concert, create_user, join_queue
from tests.waiting_room.support import code_of, configure
from ticketing.concerts.errors import ConcertNotFound
from ticketing.container import Services
from ticketing.kernel.errors import AppError


async def test_issue_is_one_live_token_per_user_and_concert(services: Services) -> None:
    configure(services)
    concert = await create_concert(services)
    other_concert = await create_concert(services)
    user = await create_user(services)
    first, created = await join_queue(services, user.principal, concert)
    again, created_again = await join_queue(services, user.principal, concert)
    elsewhere, _ = await join_queue(services, user.principal, other_concert)
    assert created is True
    assert created_again is False
    assert again.token == first.token
    assert elsewhere.token != first.token
    assert first.status == "WAITING"
    assert first.position == 1
    assert first.user_id == user.id
    assert len(first.token) >= 32


async def test_unknown_concert(services: Services) -> None:
    user = await create_user(services)
    with pytest.raises(ConcertNotFound):
        await join_queue(services, user.principal, 424242)


async def test_admission_respects_cap_rate_and_arrival_order(services: Services) -> None:
    room, clock = configure(services, queue_max_active=3, queue_admit_per_second=2)
    concert = await create_concert(services)
    users = [await create_user(services) for _ in range(6)]
    tokens = [(await join_queue(services, u.principal, concert))[0].token for u in users]

    assert await room.admit(concert) == 2  # the rate: 2 in any second
    assert await room.admit(concert) == 0
    clock.advance(1.0)
    assert await room.admit(concert) == 1  # the cap: 3 active at once
    statuses = [(await room.token_info(t)).status for t in tokens]
    assert statuses == ["ACTIVE", "ACTIVE", "ACTIVE", "WAITING", "WAITING", "WAITING"]
    assert [(await room.token_info(t)).position for t in tokens[3:]] == [1, 2, 3]

    await room.finish(await room.require_admitted(tokens[0], users[0].id))  # DONE frees its place at once
    assert (await room.token_info(tokens[0])).status == "DONE"
    clock.advance(1.0)
    assert await room.admit(concert) == 1
    assert (await room.token_info(tokens[3])).status == "ACTIVE"
    assert (await room.token_info(tokens[4])).position == 1


async def test_active_tokens_expire_and_free_their_place(services: Services) -> None:
    room, clock = configure(services, queue_max_active=1, queue_active_ttl_seconds=30)
    concert = await create_concert(services)
    a, b = await create_user(services), await create_user(services)
    ta = (await join_queue(services, a.principal, concert))[0].token
    tb = (await join_queue(services, b.principal, concert))[0].token
    await room.admit(concert)
    assert (await room.require_admitted(ta, a.id)).concert_id == concert
    clock.advance(31)
    assert await code_of(room.require_admitted(ta, a.id)) == (401, "TOKEN_INVALID")
    # b kept polling: still waiting, and admitted as soon as a's place is freed.
    assert (await room.token_info(tb)).status == "WAITING"
    assert await room.admit(concert) == 1
    assert (await room.token_info(ta)).status == "EXPIRED"
    assert (await room.token_info(tb)).status == "ACTIVE"
    # An expired token's user may join again, at the back of the queue.
    again, created = await join_queue(services, a.principal, concert)
    assert created is True
    assert again.token != ta


async def test_silent_waiters_are_dropped_and_positions_stay_honest(services: Services) -> None:
    room, clock = configure(services, queue_max_active=1, queue_waiting_grace_seconds=60)
    concert = await create_concert(services)
    holder, silent, polling = [await create_user(services) for _ in range(3)]
    await admitted_token(services, holder, concert)
    ts = (await join_queue(services, silent.principal, concert))[0].token
    tp = (await join_queue(services, polling.principal, concert))[0].token
    assert (await room.token_info(tp)).position == 2
    for _ in range(3):
        clock.advance(25)
        await room.token_info(tp)  # keeps polling within the grace period
        await room.views.sync(concert)  # the poll's heartbeat goes to Redis with the next sync
        await room.admit(concert)
    assert (await room.token_info(ts)).status == "EXPIRED"
    info = await room.token_info(tp)
    assert info.status == "WAITING"
    assert info.position == 1


async def test_finished_tokens_are_retained_then_forgotten(services: Services) -> None:
    room, clock = configure(services, queue_retain_finished_seconds=600)
    concert = await create_concert(services)
    user = await create_user(services)
    token = await admitted_token(services, user, concert)
    admitted = await room.require_admitted(token, user.id)
    await room.finish(admitted)
    await room.finish(admitted)  # idempotent
    assert (await room.token_info(token)).status == "DONE"
    assert await code_of(room.require_admitted(token, user.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_pass(token, user.id)) == (401, "TOKEN_INVALID")
    # Forgotten once the admission is older than the active TTL + the retention.
    clock.advance(services.settings.queue_active_ttl_seconds + 600 + 1)
    await room.admit(concert)
    assert await code_of(room.token_info(token)) == (401, "TOKEN_INVALID")
    assert await services.redis.hlen(f"wr:{{{concert}}}:tok") == 0


async def test_guard_outcomes(services: Services) -> None:
    room, _ = configure(services, queue_max_active=1)
    concert = await create_concert(services)
    other_concert = await create_concert(services)
    owner, waiter, stranger = [await create_user(services) for _ in range(3)]
    active = await admitted_token(services, owner, concert)
    waiting = (await join_queue(services, waiter.principal, concert))[0].token

    admitted = await room.require_admitted(active, owner.id)
    admitted.ensure_concert(concert)
    with pytest.raises(AppError) as other:
        admitted.ensure_concert(other_concert)
    assert (other.value.status, other.value.code) == (403, "TOKEN_INVALID")
    assert await code_of(room.require_admitted(None, owner.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_admitted("", owner.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_admitted("garbage", owner.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_admitted(f"{concert}.{'x' * 32}", owner.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_pass(waiting, waiter.id)) == (403, "TOKEN_NOT_ADMITTED")
    assert await code_of(room.require_pass(active, stranger.id)) == (403, "TOKEN_INVALID")
    assert (await room.require_pass(active, owner.id)).concert_id == concert
    assert await code_of(room.require_admitted(waiting, waiter.id)) == (403, "TOKEN_NOT_ADMITTED")
    assert await code_of(room.require_admitted(active, stranger.id)) == (403, "TOKEN_INVALID")
    await room.finish(admitted)
    assert await code_of(room.require_admitted(active, owner.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_pass(active, owner.id)) == (401, "TOKEN_INVALID")


async def test_sold_out_stops_admission_and_tells_waiters(services: Services) -> None:
    room, _ = configure(services)
    concert = await create_concert(services)
    user = await create_user(services)
    token = (await join_queue(services, user.principal, concert))[0].token
    await room.mark_sold_out(concert)
    assert await room.admit(concert) == 0
    assert (await room.token_info(token)).status == "SOLD_OUT"
    await room.clear_sold_out(concert)
    assert await room.admit(concert) == 1
    assert (await room.token_info(token)).status == "ACTIVE"


async def test_eta_uses_the_achieved_rate(services: Services) -> None:
    room, clock = configure(services, queue_max_active=100, queue_admit_per_second=5)
    concert = await create_concert(services)
    users = [await create_user(services) for _ in range(30)]
    tokens = [(await join_queue(services, u.principal, concert))[0].token for u in users]
    first = await room.token_info(tokens[-1])
    assert first.eta_seconds == 6  # 30th in line at the configured 5/s
    for _ in range(2):
        await room.admit(concert)
        clock.advance(1)
    info = await room.token_info(tokens[-1])  # 10 admitted in the last 10 s: 1/s achieved
    assert info.position == 20
    assert info.eta_seconds == 20
    stats = await room.stats(concert)
    assert (stats.waiting, stats.active, stats.admitted_last_minute) == (20, 10, 10)

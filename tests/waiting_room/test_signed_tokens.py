"""Signed queue tokens and the in-process view of the queue: what a forger, a stranger or a
stale process gets, and that the hot reads do not touch Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.factories import admitted_token, create_concert, create_user, join_queue
from tests.waiting_room.support import code_of, configure
from ticketing.container import Services
from ticketing.waiting_room.tokens import QueueTokenCodec


def _swap(token: str, index: int, value: str) -> str:
    """The token with one dot-separated field replaced (the signature kept)."""
    fields = token.split(".")
    fields[index] = value
    return ".".join(fields)


async def test_forged_or_altered_tokens_are_refused_everywhere(services: Services) -> None:
    room, _ = configure(services)
    concert = await create_concert(services)
    user = await create_user(services)
    token = await admitted_token(services, user, concert)
    _, concert_field, epoch, seq, user_field, issued, name, signature = token.split(".")
    forgeries = [
        _swap(token, 3, str(int(seq) + 1)),  # another place in the line
        _swap(token, 1, str(int(concert_field) + 1)),  # another concert
        _swap(token, 4, str(int(user_field) + 1)),  # another fan
        _swap(token, 2, "ffffffff"),  # another queue generation
        _swap(token, 5, str(int(issued) + 1)),
        _swap(token, 6, "mallory"),
        _swap(token, 7, "A" * len(signature)),  # a made-up signature
        token[:-1],
        token + "x",
        "q1." + ".".join([concert_field, epoch, "²", user_field, issued, name, signature]),
        QueueTokenCodec("another secret " + "y" * 40).encode(concert, epoch, int(seq), user.id, int(issued), name),
    ]
    for forged in forgeries:
        assert await code_of(room.token_info(forged)) == (401, "TOKEN_INVALID"), forged
        assert await code_of(room.require_pass(forged, user.id)) in {(401, "TOKEN_INVALID"), (403, "TOKEN_INVALID")}
        assert await code_of(room.require_admitted(forged, user.id)) in {
            (401, "TOKEN_INVALID"),
            (403, "TOKEN_INVALID"),
        }
    assert (await room.token_info(token)).status == "ACTIVE"  # the genuine one still works


async def test_another_users_or_concerts_pass_is_refused(services: Services) -> None:
    room, _ = configure(services)
    concert, other_concert = await create_concert(services), await create_concert(services)
    owner, stranger = await create_user(services), await create_user(services)
    token = await admitted_token(services, owner, concert)
    assert await code_of(room.require_pass(token, stranger.id)) == (403, "TOKEN_INVALID")
    assert await code_of(room.require_admitted(token, stranger.id)) == (403, "TOKEN_INVALID")
    admitted = await room.require_pass(token, owner.id)
    with pytest.raises(Exception) as refused:
        admitted.ensure_concert(other_concert)
    assert (getattr(refused.value, "status", None), getattr(refused.value, "code", None)) == (403, "TOKEN_INVALID")


async def test_an_expired_pass_is_refused_by_reads_and_writes(services: Services) -> None:
    room, clock = configure(services, queue_active_ttl_seconds=30)
    concert = await create_concert(services)
    user = await create_user(services)
    token = await admitted_token(services, user, concert)
    assert (await room.require_pass(token, user.id)).user_id == user.id
    clock.advance(30)
    assert await code_of(room.require_pass(token, user.id)) == (401, "TOKEN_INVALID")
    assert await code_of(room.require_admitted(token, user.id)) == (401, "TOKEN_INVALID")
    assert (await room.token_info(token)).status == "EXPIRED"


async def test_reads_refuse_a_finished_token_within_the_view_age_writes_at_once(services: Services) -> None:
    room, _ = configure(services)
    concert = await create_concert(services)
    user = await create_user(services)
    token = await admitted_token(services, user, concert)
    room.settings = room.settings.model_copy(update={"queue_snapshot_seconds": 0.3})
    await room.require_pass(token, user.id)  # the view is fresh now
    await room.finish(await room.require_admitted(token, user.id))
    assert await code_of(room.require_admitted(token, user.id)) == (401, "TOKEN_INVALID")  # at once
    await asyncio.sleep(0.35)
    assert await code_of(room.require_pass(token, user.id)) == (401, "TOKEN_INVALID")
    assert (await room.token_info(token)).status == "DONE"


async def test_polls_and_read_guards_make_no_redis_round_trip(services: Services, monkeypatch: Any) -> None:
    room, _ = configure(services)
    concert = await create_concert(services)
    fans = [await create_user(services) for _ in range(3)]
    active = await admitted_token(services, fans[0], concert)
    room.settings = room.settings.model_copy(update={"queue_snapshot_seconds": 1.0})
    waiting = [(await join_queue(services, f.principal, concert))[0].token for f in fans[1:]]
    await room.views.sync(concert)

    async def no_redis(*_: object, **__: object) -> None:
        raise AssertionError("a hot read went to Redis")

    for name in ("changes", "full_state", "peek", "issue", "finish", "admit", "stats"):
        monkeypatch.setattr(room.store, name, no_redis)
    for _ in range(50):
        assert (await room.token_info(waiting[1])).position == 2
        assert (await room.token_info(active)).status == "ACTIVE"
        assert (await room.require_pass(active, fans[0].id)).concert_id == concert


async def test_positions_count_only_those_still_waiting_ahead(services: Services) -> None:
    room, clock = configure(services, queue_max_active=2, queue_waiting_grace_seconds=60)
    concert = await create_concert(services)
    fans = [await create_user(services) for _ in range(8)]
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in fans]
    assert await room.admit(concert) == 2
    clock.advance(40)
    for i in (3, 5, 7):  # fans 2, 4 and 6 stop polling
        await room.token_info(tokens[i])
    await room.views.sync(concert)
    clock.advance(40)
    await room.admit(concert)  # drops the silent ones
    infos = [await room.token_info(t) for t in tokens]
    assert [i.status for i in infos] == [
        "ACTIVE",
        "ACTIVE",
        "EXPIRED",
        "WAITING",
        "EXPIRED",
        "WAITING",
        "EXPIRED",
        "WAITING",
    ]
    assert [i.position for i in infos[3::2]] == [1, 2, 3]
    # The exact rank in Redis agrees with the in-process count.
    ranks = await services.redis.zrange(f"wr:{{{concert}}}:waiting", 0, -1)
    assert len(ranks) == 3


async def test_poll_after_grows_with_the_position_and_stays_under_the_grace(services: Services) -> None:
    room, _ = configure(services, queue_admit_per_second=100, queue_waiting_grace_seconds=60)
    waits = [room.poll_after_ms("WAITING", position, 100.0, seq=7) for position in (1, 100, 1_000, 10_000, 1_000_000)]
    assert waits == sorted(waits)
    assert 500 <= waits[0] <= 1_100
    assert waits[-1] <= 60_000 // 3 * 1.1
    assert room.poll_after_ms("ACTIVE", None, 100.0, seq=7) <= 5_500
    concert = await create_concert(services)
    user = await create_user(services)
    issued, _ = await join_queue(services, user.principal, concert)
    assert issued.poll_after_ms >= 500
    assert (await room.token_info(issued.token)).poll_after_ms >= 500


async def test_a_queue_redis_lost_reads_as_unknown(services: Services) -> None:
    room, _ = configure(services)
    concert = await create_concert(services)
    user, other = await create_user(services), await create_user(services)
    token = (await join_queue(services, user.principal, concert))[0].token
    await services.redis.flushdb()  # Redis lost everything
    fresh = (await join_queue(services, other.principal, concert))[0].token  # a new generation, seq 1 again
    assert fresh.split(".")[3] == token.split(".")[3] == "1"
    assert await code_of(room.token_info(token)) == (401, "TOKEN_INVALID")
    assert (await room.token_info(fresh)).user.id == other.id


async def test_concurrent_joins_go_to_redis_in_batches_in_arrival_order(services: Services, monkeypatch: Any) -> None:
    room, _ = configure(services)
    concert = await create_concert(services)
    fans = [await create_user(services) for _ in range(201)]
    await join_queue(services, fans.pop().principal, concert)  # the concert is known: no other await
    calls: list[int] = []
    issue = room.store.issue

    async def counted(concert_id: int, joins: Any, new_epoch: str, **options: Any) -> Any:
        calls.append(len(joins))
        return await issue(concert_id, joins, new_epoch, **options)

    monkeypatch.setattr(room.store, "issue", counted)
    joined = await asyncio.gather(*(join_queue(services, f.principal, concert) for f in fans))
    assert sum(calls) == 200
    assert len(calls) < 200  # batched: the first join went alone, the rest queued behind it
    assert max(calls) <= 100  # the batch bound
    # Arrival order within and across batches: the n-th caller got the n-th place.
    assert [token.position for token, _ in joined] == list(range(2, 202))
    assert all(created for _, created in joined)
    again = await asyncio.gather(*(join_queue(services, f.principal, concert) for f in fans[:50]))
    assert [t.token for t, _ in again] == [t.token for t, _ in joined[:50]]

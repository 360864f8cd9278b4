"""Two server processes whose views of one queue lag differently: a fan that
one node shows ACTIVE must not be told "not yet admitted" by another whose view is behind. The
lagging node asks Redis before it refuses, and only then (its admitted fans' reads stay
in-process)."""

from __future__ import annotations

from collections.abc import Callable

from tests.factories import create_concert, create_user, join_queue
from tests.waiting_room.support import code_of, configure
from ticketing.container import Services
from ticketing.waiting_room.service import WaitingRoomService
from ticketing.waiting_room.snapshot import QueueViews
from ticketing.waiting_room.store import QueueStore, TokenRecord


def lagging_node(services: Services, clock: Callable[[], float]) -> tuple[WaitingRoomService, list[int]]:
    """Another process on the same Redis whose views never sync again once read (its monotonic
    clock stands still, so they never grow older than its snapshot age): as far behind as a test
    wants it. Returns the node and a list that counts its Redis reads of token records."""
    store = QueueStore(services.redis)
    node = WaitingRoomService(
        store,
        services.waiting_room.settings.model_copy(update={"queue_snapshot_seconds": 1.0}),
        clock,
    )
    node.views = QueueViews(store, monotonic=lambda: 0.0)
    peeks: list[int] = []
    peek = store.peek

    async def counted(concert_id: int, seq: int, token_epoch: str) -> TokenRecord:
        peeks.append(1)
        return await peek(concert_id, seq, token_epoch)

    store.peek = counted  # type: ignore[method-assign]
    return node, peeks


async def test_a_node_whose_view_is_behind_asks_redis_before_refusing(services: Services) -> None:
    room, clock = configure(services, queue_max_active=1)
    concert = await create_concert(services)
    first, second = await create_user(services), await create_user(services)
    first_token = (await join_queue(services, first.principal, concert))[0].token
    second_token = (await join_queue(services, second.principal, concert))[0].token
    lagging, peeks = lagging_node(services, clock)
    # The lagging node reads the queue while both wait, and keeps that view.
    assert await code_of(lagging.require_pass(first_token, first.id)) == (403, "TOKEN_NOT_ADMITTED")
    assert len(peeks) == 1  # a refusal asks Redis first

    assert await room.admit(concert) == 1  # the first fan is admitted (the cap is 1)
    assert (await room.token_info(first_token)).status == "ACTIVE"  # what the fresh node says
    assert (await lagging.token_info(first_token)).status == "WAITING"  # the lagging view

    # The fan, shown ACTIVE, goes to the dates; the request lands on the lagging node.
    admitted = await lagging.require_pass(first_token, first.id)
    assert (admitted.concert_id, admitted.user_id) == (concert, first.id)
    # Still waiting in Redis: still refused, after asking.
    assert await code_of(lagging.require_pass(second_token, second.id)) == (403, "TOKEN_NOT_ADMITTED")
    assert len(peeks) == 3


async def test_the_hot_path_of_an_admitted_fan_does_not_ask_redis(services: Services) -> None:
    room, clock = configure(services)
    concert = await create_concert(services)
    fan = await create_user(services)
    token = (await join_queue(services, fan.principal, concert))[0].token
    assert await room.admit(concert) == 1
    node, peeks = lagging_node(services, clock)  # its first read of the queue sees the admission
    for _ in range(5):
        assert (await node.require_pass(token, fan.id)).user_id == fan.id
    assert peeks == []


async def test_a_token_redis_finished_is_not_let_through_by_the_check(services: Services) -> None:
    """The check lets through an admitted, live token only: a fan who paid meanwhile, seen WAITING
    by a node far behind, is refused (a finished token is DONE in Redis, not ACTIVE)."""
    room, clock = configure(services)
    concert = await create_concert(services)
    fan = await create_user(services)
    token = (await join_queue(services, fan.principal, concert))[0].token
    lagging, _ = lagging_node(services, clock)
    assert await code_of(lagging.require_pass(token, fan.id)) == (403, "TOKEN_NOT_ADMITTED")
    assert await room.admit(concert) == 1
    await room.finish(await room.require_admitted(token, fan.id))
    assert await code_of(lagging.require_pass(token, fan.id)) == (403, "TOKEN_NOT_ADMITTED")
    # Admitted but run out meanwhile: refused too.
    other = await create_user(services)
    other_token = (await join_queue(services, other.principal, concert))[0].token
    assert await room.admit(concert) == 1
    clock.advance(services.waiting_room.settings.queue_active_ttl_seconds + 1)
    assert await code_of(lagging.require_pass(other_token, other.id)) == (403, "TOKEN_NOT_ADMITTED")

"""No join is issued after its request's deadline (item 3: "ghost queue tokens").

A join stuck on a frozen node ran when the node resumed, past its 5 s deadline: fans who had
already bought got a fresh token, each taking a place. Now a join carries its request's deadline:
one whose deadline passed while it queued for its batch is not sent, and the join script refuses
one whose deadline passed by Redis' own clock (``TIME``), which is what a resumed node cannot
get around."""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

import pytest

from tests.factories import create_concert, create_user, join_queue
from tests.waiting_room.support import configure
from ticketing.container import Services
from ticketing.kernel import deadline
from ticketing.kernel.deadline import RequestTimedOut
from ticketing.waiting_room.store import Joined, concert_prefix


def unix_ms() -> int:
    return int(time.time() * 1000)


async def arrivals(services: Services, concert: int) -> int:
    return int(await services.redis.get(concert_prefix(concert) + "seq") or 0)


async def test_the_script_refuses_a_join_past_its_deadline_by_redis_clock(services: Services) -> None:
    """A node that resumes with a join in hand sends it as it was: the script compares its
    deadline with Redis' clock, issues nothing and changes nothing. The ghost of the multi-node
    run: the fan had bought meanwhile (their token finished), so nothing stopped a new one."""
    room, _ = configure(services)
    concert = await create_concert(services)
    fan = await create_user(services)
    token = (await join_queue(services, fan.principal, concert))[0].token
    assert await room.admit(concert) == 1
    await room.finish(await room.require_admitted(token, fan.id))  # bought and done
    before = await arrivals(services, concert)

    late, on_time, no_deadline = await room.store.issue(
        concert,
        [(fan.id, unix_ms(), unix_ms() - 1), (fan.id + 1000, unix_ms(), unix_ms() + 60_000), (fan.id + 2000, 0, 0)],
        "epoch",
    )
    assert isinstance(late, RequestTimedOut)
    assert isinstance(on_time, Joined) and isinstance(no_deadline, Joined)
    assert await arrivals(services, concert) == before + 2  # only the two in time took a number
    assert await services.redis.hget(concert_prefix(concert) + "users", str(fan.id)) is None


async def test_a_join_whose_deadline_passes_while_it_queues_is_not_sent(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The joins of a concert queue behind its batch in Redis; one whose request ran out of time
    meanwhile is answered 503 (Retry-After) and never reaches Redis."""
    room, _ = configure(services)
    concert = await create_concert(services)
    first, late = await create_user(services), await create_user(services)
    await join_queue(services, first.principal, concert)  # the queue exists
    issue = room.store.issue
    release, in_flight = asyncio.Event(), asyncio.Event()
    sent: list[list[int]] = []

    async def slow_issue(concert_id: int, joins: Any, new_epoch: str, **options: Any) -> Any:
        sent.append([user_id for user_id, _, _ in joins])
        if len(sent) == 1:
            in_flight.set()
            await release.wait()  # the batch in Redis is slow (or its node stalls)
        return await issue(concert_id, joins, new_epoch, **options)

    monkeypatch.setattr(room.store, "issue", slow_issue)
    other = await create_user(services)
    in_redis = asyncio.create_task(join_queue(services, other.principal, concert))
    await in_flight.wait()

    async def late_join() -> Any:
        deadline.start(0.05)  # this request's clock (in its own context, like a request's)
        return await join_queue(services, late.principal, concert)

    queued = asyncio.create_task(late_join(), context=contextvars.Context())
    await asyncio.sleep(0.1)  # its deadline passes while it waits behind the slow batch
    release.set()
    with pytest.raises(RequestTimedOut) as refused:
        await queued
    assert refused.value.headers == {"Retry-After": "1"}
    assert (await in_redis)[1] is True
    assert all(late.id not in users for users in sent)  # never sent
    assert await services.redis.hget(concert_prefix(concert) + "users", str(late.id)) is None
    # In time, the same fan joins as anyone else.
    assert (await join_queue(services, late.principal, concert))[1] is True


async def test_a_request_out_of_time_does_not_join(services: Services) -> None:
    configure(services)
    concert = await create_concert(services)
    fan = await create_user(services)

    async def out_of_time() -> Any:
        deadline.start(0)
        return await join_queue(services, fan.principal, concert)

    with pytest.raises(RequestTimedOut):
        await asyncio.create_task(out_of_time(), context=contextvars.Context())
    assert await arrivals(services, concert) == 0

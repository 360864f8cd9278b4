"""The request deadline and the work that must not inherit it."""

from __future__ import annotations

import asyncio
import math

import pytest

from ticketing.kernel import deadline
from ticketing.kernel.coalesce import Coalescer


async def test_past_the_deadline_no_work_starts() -> None:
    async def request() -> None:
        deadline.start(0.05)
        deadline.ensure_time_left()
        await asyncio.sleep(0.06)
        deadline.ensure_time_left()

    with pytest.raises(deadline.RequestTimedOut):
        await asyncio.create_task(request())
    assert deadline.remaining() == math.inf  # the request's own context only


async def test_a_batch_outlives_the_deadline_of_the_request_that_started_it() -> None:
    left: list[float] = []

    async def flush(_: str, items: list[int]) -> list[int | BaseException]:
        left.append(deadline.remaining())
        return list(items)  # a copy typed as the flush's answers (list is invariant)

    batches: Coalescer[str, int, int] = Coalescer(flush)

    async def request() -> int:
        deadline.start(0)  # already past: this request's own unit of work would refuse to start
        return await batches.submit("hot", 7)

    assert await asyncio.create_task(request()) == 7
    assert left == [math.inf]

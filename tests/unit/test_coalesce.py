"""Natural batching (``kernel/coalesce.py``) when the dependency behind it is down."""

from __future__ import annotations

import asyncio

from ticketing.kernel.coalesce import Coalescer
from ticketing.kernel.errors import ServiceUnavailable


async def test_when_a_batch_finds_the_dependency_down_everything_queued_behind_it_fails_at_once() -> None:
    calls: list[list[int]] = []
    first_sent = asyncio.Event()

    async def flush(_: str, items: list[int]) -> list[int | BaseException]:
        calls.append(items)
        first_sent.set()
        await asyncio.sleep(0.05)  # the bounded timeout of a dependency that is down
        raise ServiceUnavailable("down")

    batches: Coalescer[str, int, int] = Coalescer(flush, max_batch=2)
    first = asyncio.create_task(batches.submit("k", 0))
    await first_sent.wait()
    queued = [asyncio.create_task(batches.submit("k", i)) for i in range(1, 7)]  # three batches' worth
    outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
    assert all(isinstance(o, ServiceUnavailable) for o in outcomes)
    assert calls == [[0]]  # one timeout answered all seven, not four timeouts one after another


async def test_any_other_failure_fails_only_its_own_batch() -> None:
    async def flush(_: str, items: list[int]) -> list[int | BaseException]:
        await asyncio.sleep(0.01)
        if items == [0]:
            raise ValueError("this batch only")
        return list(items)  # a copy typed as the flush's answers (list is invariant)

    batches: Coalescer[str, int, int] = Coalescer(flush)
    first = asyncio.create_task(batches.submit("k", 0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batches.submit("k", i)) for i in (1, 2)]
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert isinstance(outcomes[0], ValueError)
    assert outcomes[1:] == [1, 2]

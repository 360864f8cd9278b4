"""SingleFlight: one call per key at a time, shared by everyone who asks meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from ticketing.kernel.singleflight import SingleFlight


async def test_concurrent_callers_share_one_call_and_its_result() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def slow() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiters = [asyncio.create_task(flight.run("k", slow)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [1] * 20
    assert calls == 1
    assert await flight.run("k", slow) == 2  # the next call after it finished runs again


async def test_a_failure_reaches_every_waiter_and_the_next_call_runs_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def failing() -> int:
        await gate.wait()
        raise RuntimeError("down")

    waiters = [asyncio.create_task(flight.run("k", failing)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> int:
        return 7

    assert await flight.run("k", ok) == 7


async def test_a_cancelled_waiter_does_not_cancel_the_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def slow() -> int:
        await gate.wait()
        return 1

    owner = asyncio.create_task(flight.run("k", slow))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(flight.run("k", slow))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    assert await owner == 1

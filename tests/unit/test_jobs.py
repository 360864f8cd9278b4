"""The job runner stops its jobs even when a job's library turns a cancellation into an error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from ticketing.kernel.jobs import JobRunner, PeriodicJob


async def test_stop_ends_a_job_whose_run_swallowed_the_cancellation() -> None:
    started = asyncio.Event()

    async def swallowing() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # what a client library's racing timeout can do
            raise ConnectionError("turned into an error") from None

    runner = JobRunner([PeriodicJob("swallower", 0.01, swallowing)])
    runner.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(runner.stop(), 5)  # before the fix: waited forever


async def test_a_failing_job_is_retried_on_its_next_tick() -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("down")

    runner = JobRunner([PeriodicJob("failing", 0.01, failing)])
    runner.start()
    for _ in range(200):
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    await runner.stop()
    assert calls >= 3


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends() -> None:
    """Ticking every 10 ms through an outage used to log a traceback per tick."""
    calls, down = 0, True

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if down:
            raise ConnectionError("Redis is down")

    runner = JobRunner([PeriodicJob("flaky", 0.01, flaky)])
    with structlog.testing.capture_logs() as logs:
        runner.start()
        await wait_until(lambda: calls >= 20)
        down = False
        await wait_until(lambda: any(e["event"] == "background job recovered" for e in logs))
        await runner.stop()
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events == [
        ("background job failing; retried every tick, logged again when it recovers", "error"),
        ("background job recovered", "warning"),
    ]
    assert logs[1]["failed_runs"] >= 20


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 5 s")

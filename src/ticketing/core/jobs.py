"""Background jobs: periodic coroutines run inside every server process (asyncio tasks) or in a
separate ``ticketing worker`` process. A job must be safe to run in many processes at once:
each one coordinates itself (a Redis lease for the admitter, ``SKIP LOCKED`` for sweepers)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("ticketing.jobs")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]


class JobRunner:
    def __init__(self, jobs: list[PeriodicJob]) -> None:
        self.jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"job:{job.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_forever(self) -> None:
        self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    @staticmethod
    async def _loop(job: PeriodicJob) -> None:
        # Spread the first run so that many processes started together do not fire in step.
        await asyncio.sleep(random.uniform(0, job.interval_seconds))  # noqa: S311 - jitter, not crypto
        task = asyncio.current_task()
        while True:
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failing job is logged and retried on its next tick, never fatal
                log.exception("background job failed", job=job.name)
            if task is not None and task.cancelling():
                # Stopped while the job ran, but something on the way turned the cancellation
                # into an error (a client library's own timeout firing at the same moment can):
                # stop anyway, or ``stop()`` would wait for this loop forever.
                raise asyncio.CancelledError
            await asyncio.sleep(job.interval_seconds)

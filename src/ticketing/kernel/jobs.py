"""Background jobs: periodic coroutines run inside every server process (asyncio tasks) or in a
separate ``ticketing worker`` process. A job must be safe to run in many processes at once:
each one coordinates itself (a Redis lease for the admitter, ``SKIP LOCKED`` for sweepers)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
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
        outage = _Outage(job.name)
        while True:
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a failing job is logged and retried on its next tick, never fatal
                outage.failed(error)
            else:
                outage.succeeded()
            if task is not None and task.cancelling():
                # Stopped while the job ran, but something on the way turned the cancellation
                # into an error (a client library's own timeout firing at the same moment can):
                # stop anyway, or ``stop()`` would wait for this loop forever.
                raise asyncio.CancelledError
            await asyncio.sleep(job.interval_seconds)


class _Outage:
    """One job's run of failures, logged once when it starts (with the traceback) and once when
    it ends: a job ticking every 100 ms while Redis is down would otherwise write ten tracebacks
    a second. A failure of another kind in the same run is logged too, once per kind."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.failures = 0
        self.started = 0.0
        self.kinds: set[str] = set()

    def failed(self, error: Exception) -> None:
        kind = type(error).__name__
        if self.failures == 0:
            self.started = time.monotonic()
        self.failures += 1
        if kind not in self.kinds:
            self.kinds.add(kind)
            log.error(
                "background job failing; retried every tick, logged again when it recovers",
                job=self.job,
                exc_info=error,
            )

    def succeeded(self) -> None:
        if self.failures:
            log.warning(
                "background job recovered",
                job=self.job,
                failed_runs=self.failures,
                outage_seconds=round(time.monotonic() - self.started, 1),
            )
            self.failures = 0
            self.kinds.clear()

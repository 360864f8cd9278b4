"""Natural batching of concurrent requests on one key (a group commit in the application).

Requests on one key (a concert's queue; one key for every charge of the process; one for every
account check, and one for every first look at a seat) that arrive while that key's previous
batch is still in the database wait together and go to the database as one batch: the first
request on an idle key goes at once (no added latency), and under load each round trip carries
everything that queued behind it. A hot row's lock is then taken once per
batch instead of once per request, so the row stops serialising the whole service behind its
commit, and many requests share one round trip and one commit (one WAL flush per batch).

Batches are per process; processes still serialise on the row lock, batch against batch. A batch
runs outside the deadline of the request that happened to start it (it serves many).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from ticketing.kernel import deadline
from ticketing.kernel.errors import ServiceUnavailable

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the item type
R = TypeVar("R")

# One outcome per item, in the order of the items: a result, or the error that item gets.
Flush = Callable[[K, list[I]], Awaitable[list[R | BaseException]]]


class Coalescer(Generic[K, I, R]):
    def __init__(self, flush: Flush[K, I, R], *, max_batch: int = 256) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._queued: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._draining: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, item: I) -> R:
        """The outcome of ``item``. A caller cancelled while waiting does not take its item back:
        like a statement already sent, it may still be applied with its batch."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.setdefault(key, []).append((item, future))
        if key not in self._draining:
            self._draining[key] = asyncio.create_task(self._drain(key), context=deadline.unbounded())
        return await future

    async def _drain(self, key: K) -> None:
        try:
            while queued := self._queued.pop(key, None):
                batch, rest = queued[: self._max_batch], queued[self._max_batch :]
                if rest:
                    self._queued[key] = rest
                try:
                    outcomes = await self._flush(key, [item for item, _ in batch])
                except ServiceUnavailable as error:
                    # The dependency is down: everything queued behind this batch would fail the
                    # same way, one bounded timeout after another (a join at the back of a few
                    # hundred waited past its client's patience). They all learn it now.
                    batch += self._queued.pop(key, [])
                    outcomes = [error] * len(batch)
                except Exception as error:  # the whole batch failed: nothing of it was applied
                    outcomes = [error] * len(batch)
                answer_each([future for _, future in batch], outcomes)
        finally:
            del self._draining[key]
            if key in self._queued:  # only if the loop above broke off: never strand a waiter
                self._draining[key] = asyncio.create_task(self._drain(key), context=deadline.unbounded())


def answer_each(futures: Sequence[asyncio.Future[R]], outcomes: Sequence[R | BaseException]) -> None:
    """Hand each waiter of a batch its own outcome, a result or an error, in order; a waiter
    whose caller was cancelled meanwhile is skipped."""
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

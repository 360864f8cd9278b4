"""One call at a time per key: callers who arrive while it runs wait for its result instead of
making their own. Used where many requests find the same cached answer stale at once (the
queue views, the date and seat lists)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    def busy(self, key: K) -> bool:
        """A call for ``key`` is running."""
        return key in self._running

    async def run(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        running = self._running.get(key)
        if running is not None:
            # Shielded: a waiter that is cancelled (its client left) does not cancel the call.
            return await asyncio.shield(running)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await call()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: a failure nobody else awaited is not logged as lost
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._running[key]

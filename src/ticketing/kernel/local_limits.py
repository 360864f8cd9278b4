"""Sliding-window counters kept in this process, for the limits counted without Redis (the queue
join's, see ``RateLimiter``): the `limits` library's sliding-window-counter arithmetic, without its
asynchronous memory storage.

The arithmetic is that of `limits` (``SlidingWindowCounterRateLimiter`` on ``MemoryStorage``),
answer for answer (``tests/unit/test_local_limits.py`` holds the two to the same answers): time is
cut into fixed windows of the limit's length; a hit is allowed while ``floor(previous window's
count x the share of it still inside the sliding window + this window's count) + 1 <= amount``,
and a refusal's wait is the library's ``reset_time``.

What differs is the cost. The library's storage takes an asyncio lock per key, is called through
one task per limit (``asyncio.gather``), and its expiry pass walks every key of the last two
windows each time it runs, so a join cost more the more fans had joined in the last two minutes
(34 µs per join with 1,000 fans in the window, 61 µs with 30,000). Here a limit's counts live in
two plain dictionaries, this window's and the previous one's: when a window ends, the current one
becomes the previous and the old previous is dropped whole, so expiry costs nothing per key and a
hit is two dictionary look-ups, whatever the number of fans.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItem


class _Windows:
    """The counts of one limit (a tier of a rule) by who is counted, in its current and previous
    fixed windows."""

    __slots__ = ("current", "expiry", "index", "previous")

    def __init__(self, expiry: int) -> None:
        self.expiry = expiry
        self.index = -1  # the current window's number: int(now / expiry)
        self.current: dict[str, int] = {}
        self.previous: dict[str, int] = {}

    def at(self, now: float) -> tuple[float, float]:
        """Move to the window of ``now``; the seconds left of the previous window's weight and of
        this window's count (`limits`' ttls of the two keys, computed as it does)."""
        index = int(now / self.expiry)
        if index != self.index:
            self.previous = self.current if index == self.index + 1 else {}
            self.current = {}
            self.index = index
        expiry = self.expiry
        return (1 - (((now - expiry) / expiry) % 1)) * expiry, (1 - ((now / expiry) % 1)) * expiry + expiry


class LocalSlidingWindows:
    """Sliding-window counters of any number of limits, each counted per who (``acct:...``,
    ``addr:...``) and namespace (the rule's name). Synchronous: an event loop is one thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, RateLimitItem], _Windows] = {}

    def _of(self, namespace: str, item: RateLimitItem) -> _Windows:
        windows = self._windows.get((namespace, item))
        if windows is None:
            windows = self._windows[(namespace, item)] = _Windows(item.get_expiry())
        return windows

    def hit(self, item: RateLimitItem, namespace: str, who: str) -> bool:
        """Count one hit of ``who`` if the limit allows it; False (nothing counted) if not."""
        windows = self._of(namespace, item)
        previous_ttl, _ = windows.at(self._clock())
        current = windows.current.get(who, 0)
        weighted = windows.previous.get(who, 0) * previous_ttl / windows.expiry + current
        if math.floor(weighted) + 1 > item.amount:
            return False
        windows.current[who] = current + 1
        return True

    def seconds_to_reset(self, item: RateLimitItem, namespace: str, who: str) -> float:
        """Seconds until ``who`` frees a slot of ``item``: `limits`' ``get_window_stats``'
        reset time less now (0 when nothing is counted)."""
        windows = self._of(namespace, item)
        previous_ttl, current_ttl = windows.at(self._clock())
        previous, current = windows.previous.get(who, 0), windows.current.get(who, 0)
        expiry = windows.expiry
        previous_reset_in = previous_ttl % (expiry / previous) if previous else math.inf
        current_reset_in = current_ttl % expiry if current else math.inf
        wait = min(previous_reset_in, current_reset_in)
        return 0.0 if wait == math.inf else wait

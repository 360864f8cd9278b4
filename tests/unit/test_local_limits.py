"""The in-process sliding windows (``kernel/local_limits.py``) answer as `limits`' sliding-window
counter on its memory storage, the reference they replace: the same hits allowed and refused, the
same wait before a slot frees, over random sequences of hits at random moments."""

from __future__ import annotations

import math
import random
import time

import pytest
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from ticketing.kernel.local_limits import LocalSlidingWindows

START = 1_796_000_000.25  # a Unix time inside a window


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


async def _reference_answers(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, hits: list[tuple[float, RateLimitItem, str, str]]
) -> list[tuple[bool, int | None]]:
    """(allowed, whole seconds until a slot frees when refused) of each hit by `limits`, on the
    same clock (its memory storage reads ``time.time``)."""
    monkeypatch.setattr(time, "time", clock)
    reference = SlidingWindowCounterRateLimiter(MemoryStorage())
    answers: list[tuple[bool, int | None]] = []
    for at, item, namespace, who in hits:
        clock.now = at
        allowed = await reference.hit(item, namespace, who)
        wait = None
        if not allowed:
            stats = await reference.get_window_stats(item, namespace, who)
            wait = max(1, math.ceil(stats.reset_time - at))
        answers.append((allowed, wait))
    monkeypatch.undo()
    return answers


def _local_answers(clock: Clock, hits: list[tuple[float, RateLimitItem, str, str]]) -> list[tuple[bool, int | None]]:
    windows = LocalSlidingWindows(clock)
    answers: list[tuple[bool, int | None]] = []
    for at, item, namespace, who in hits:
        clock.now = at
        allowed = windows.hit(item, namespace, who)
        wait = None if allowed else max(1, math.ceil(windows.seconds_to_reset(item, namespace, who)))
        answers.append((allowed, wait))
    return answers


@pytest.mark.parametrize("seed", range(8))
async def test_the_local_windows_answer_as_limits_does(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    items = [parse("3/minute"), parse("5/10 seconds"), parse("30/minute")]
    whos = ["acct:1", "acct:2", "addr:127.0.0.1", "addr:10.0.0.7"]
    at, hits = START, []
    for _ in range(1_500):
        # Mostly bursts (several hits a second), now and then a pause of up to three windows.
        at += rng.expovariate(4.0) if rng.random() < 0.97 else rng.uniform(0, 180)
        hits.append((at, rng.choice(items), rng.choice(["queue-join", "hold"]), rng.choice(whos)))
    expected = await _reference_answers(monkeypatch, Clock(), hits)
    got = _local_answers(Clock(), hits)
    assert sum(1 for allowed, _ in expected if not allowed) > 50  # the sequences do reach the limits
    assert got == expected


def test_counts_of_windows_that_ended_are_dropped_whole() -> None:
    clock = Clock()
    windows = LocalSlidingWindows(clock)
    item = parse("2/minute")
    assert [windows.hit(item, "queue-join", f"addr:{n}") for n in range(1_000)] == [True] * 1_000
    assert windows.hit(item, "queue-join", "addr:1") is True
    assert windows.hit(item, "queue-join", "addr:1") is False
    clock.now += 120  # two windows on: nothing of the first is left to weigh
    assert windows.hit(item, "queue-join", "addr:1") is True
    kept = windows._windows[("queue-join", item)]
    assert (len(kept.current), len(kept.previous)) == (1, 0)

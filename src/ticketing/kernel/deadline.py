"""Request deadlines: no work starts, and nothing commits, after a request's time is up.

A request that stalls (a paused or overloaded worker, a dependency that answers slowly) must not
go on to change state after its client has given up: a hold committed then blocks a seat for the
whole hold, unseen by the fan who asked for it (a "ghost hold"). ``RequestContextMiddleware``
starts each request's clock (``TICKETING_REQUEST_DEADLINE_SECONDS``); the unit of work checks it
before it takes a connection and again right before it commits, and a connection's wait for the
pool is cut to the time left. Past the deadline the request answers 503 and its transaction is
rolled back. A worker stopped *inside* a transaction is covered by PostgreSQL itself: the session
is ended after the same time idle in a transaction (``idle_in_transaction_session_timeout``), which
rolls it back and frees its locks.

Work that serves many requests (a batch of charges or joins) runs without a deadline of its own:
``unbounded()`` gives it a fresh context. A queue join carries its request's deadline into the
batch instead: a join whose deadline passed while it queued is not sent, and the join script
refuses one whose deadline passed by Redis' clock (``unix_ms``), so a process that stalled with
a join in hand cannot issue it when it resumes (a "ghost token": a place in the queue for a fan
who had long given up, or already bought).
"""

from __future__ import annotations

import contextvars
import math
import time

from ticketing.kernel.errors import ServiceUnavailable

_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("request_deadline", default=math.inf)


DEADLINE = "deadline"  # the problem's ``reason``


class RequestTimedOut(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "The request ran out of time before it could finish; nothing was changed",
            headers={"Retry-After": "1"},
            reason=DEADLINE,
        )


def start(seconds: float) -> None:
    """Start the current request's clock (in the request's own context)."""
    _DEADLINE.set(time.monotonic() + seconds)


def remaining() -> float:
    """Seconds left to the current request's deadline (infinite outside a request)."""
    return _DEADLINE.get() - time.monotonic()


def unix_ms() -> int:
    """The current request's deadline as Unix time in ms (0 outside a request): for a check made
    on another machine's clock, after this process may have stalled (a Redis script compares it
    with Redis' ``TIME``; the clocks are NTP-synchronised, as the queue's times already need)."""
    left = remaining()
    return 0 if left == math.inf else int((time.time() + left) * 1000)


def ensure_time_left() -> None:
    if _DEADLINE.get() <= time.monotonic():
        raise RequestTimedOut()


def unbounded() -> contextvars.Context:
    """A context without a request deadline, for a task that outlives the request that made it."""
    return contextvars.Context()

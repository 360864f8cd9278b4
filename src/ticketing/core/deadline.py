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
``unbounded()`` gives it a fresh context.
"""

from __future__ import annotations

import contextvars
import math
import time

from ticketing.core.errors import ServiceUnavailable

_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("request_deadline", default=math.inf)


class RequestTimedOut(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "The request ran out of time before it could finish; nothing was changed",
            headers={"Retry-After": "1"},
        )


def start(seconds: float) -> None:
    """Start the current request's clock (in the request's own context)."""
    _DEADLINE.set(time.monotonic() + seconds)


def remaining() -> float:
    """Seconds left to the current request's deadline (infinite outside a request)."""
    return _DEADLINE.get() - time.monotonic()


def ensure_time_left() -> None:
    if _DEADLINE.get() <= time.monotonic():
        raise RequestTimedOut()


def unbounded() -> contextvars.Context:
    """A context without a request deadline, for a task that outlives the request that made it."""
    return contextvars.Context()

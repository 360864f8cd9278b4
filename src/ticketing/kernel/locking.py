"""Lock policy shared by every use case.

Lock order, everywhere: reservation -> seats (ascending id) -> wallet. Every row lock is taken
inside a unit of work with a bounded wait (the connection's ``lock_timeout``, or ``NOWAIT``);
a lock held past its statement is taken through ``Database.lock_*``, which refuses to run
outside a transaction. PostgreSQL's lock-related failures become typed errors here (through
``kernel.db.Database``, for every statement), never a 500:

- 40P01 deadlock_detected and 40001 serialization_failure: the transaction was rolled back by
  the server; the use case may be retried as a whole (``retry_on_conflict``).
- 55P03 lock_not_available: the wait bound was reached.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Literal, NoReturn, TypeVar, get_args

import asyncpg
import structlog

from ticketing.kernel.errors import ServiceUnavailable, ValidationError

log = structlog.get_logger("ticketing.db")

T = TypeVar("T")

# How a hold takes its seat: ``redis+db`` (the default: a Redis lock turns contenders away, then
# the row lock) or ``db`` (the row lock only). The other kinds the lock study measured (conditional
# UPDATE, version check, Redis lock only, no lock, spin lock, the seed's S-lock) and the unordered
# lock order of several seats are gone from the code; their figures stay in docs/locking.md.
SeatLockStrategy = Literal["redis+db", "db"]
SEAT_LOCK_STRATEGIES: tuple[SeatLockStrategy, ...] = get_args(SeatLockStrategy)

# The ``reason`` member of the 503s below, for clients and the lock study (bench/burst.py).
CONFLICT = "conflict"  # deadlock or serialization failure (the last attempt's, once retried)
LOCK_TIMEOUT = "lock_timeout"
STATEMENT_TIMEOUT = "statement_timeout"
NO_DATABASE = "database_unavailable"  # no pooled connection in time, or a broken one

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
LOCK_NOT_AVAILABLE = "55P03"


class TransientConflict(ServiceUnavailable):
    """The database rolled the transaction back (deadlock or serialization failure)."""

    code = "SERVICE_UNAVAILABLE"
    title = "The request collided with another one; nothing was changed, retry"


class LockTimeout(ServiceUnavailable):
    title = "The resource is busy; nothing was changed, retry shortly"


# Data the database cannot store: 22P05 untranslatable_character, 22021 character_not_in_repertoire
# (a NUL or invalid byte sequence), 22003 numeric_value_out_of_range, and 22000 data_exception,
# which asyncpg raises itself for an argument it cannot encode (an int beyond bigint). Request
# validation refuses such input first; this backstop answers 422 for any field it misses.
UNSTORABLE_INPUT_SQLSTATES = frozenset({"22P05", "22021", "22003", "22000"})

# SQLSTATE classes that mean the server or the connection is gone or refusing work:
# 08 connection exception, 53 insufficient resources, 57P operator intervention.
UNAVAILABLE_PREFIXES = ("08", "53", "57P")


# What the driver raises for a failed statement or a lost connection (TimeoutError: no pooled
# connection in time, or asyncpg's command_timeout).
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, OSError)


class LockOutsideTransaction(RuntimeError):
    """A programming error: a row or advisory lock asked for with no open transaction, where it
    would be released as soon as its statement ends (an ``autocommit`` unit of work, or one
    already committed) and guard nothing."""


def raise_translated(error: BaseException) -> NoReturn:
    """Raise the typed application error for a driver error (one of ``DRIVER_ERRORS``): the one
    mapping, used by ``kernel.db.Database`` and the unit of work. Constraint violations and any
    other error the mapping does not name are raised unchanged, for the repository that expects
    one to name it (a unique violation turned into a typed 409)."""
    if isinstance(error, asyncpg.PostgresError):
        state = error.sqlstate
        if state in RETRYABLE_SQLSTATES:
            raise TransientConflict(headers={"Retry-After": "1"}, reason=CONFLICT) from error
        if state == LOCK_NOT_AVAILABLE:
            raise LockTimeout(headers={"Retry-After": "1"}, reason=LOCK_TIMEOUT) from error
        if state == "57014":  # query_canceled: statement_timeout
            raise ServiceUnavailable(
                "The database took too long; nothing was changed", reason=STATEMENT_TIMEOUT
            ) from error
        if state is None or state.startswith(UNAVAILABLE_PREFIXES):
            raise ServiceUnavailable("The database is unavailable; nothing was changed", reason=NO_DATABASE) from error
        if state in UNSTORABLE_INPUT_SQLSTATES:
            # Logged: the schema or parser that let this through needs the same rule.
            log.warning("input refused by the database", sqlstate=state, error=str(error))
            raise ValidationError(
                "A value of the request cannot be stored (a control character or out of range)"
            ) from error
        raise error
    if isinstance(error, DRIVER_ERRORS):
        raise ServiceUnavailable("The database is unavailable; nothing was changed", reason=NO_DATABASE) from error
    raise error


async def retry_on_conflict(operation: Callable[[], Awaitable[T]], *, attempts: int = 3) -> T:
    """Run a whole use case again after a deadlock or serialization failure (bounded)."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except TransientConflict:
            if attempt == attempts:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")

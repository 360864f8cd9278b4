"""The connection pool: at run time the repositories send SQL straight to asyncpg (the schema's
SQLAlchemy models, for Alembic, are in ``core/orm.py`` and never imported by the service)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from ticketing.config import Settings

log = logging.getLogger(__name__)

# What repositories receive: one asyncpg connection (pooled or not), in a transaction or not.
# (asyncpg's classes are generic only in its stubs.)
if TYPE_CHECKING:
    Connection: TypeAlias = PoolConnectionProxy[Record] | asyncpg.Connection[Record]
    Pool: TypeAlias = asyncpg.Pool[Record]
    _Connection: TypeAlias = asyncpg.Connection[Record]
else:
    Connection = PoolConnectionProxy | asyncpg.Connection
    Pool = asyncpg.Pool
    _Connection = asyncpg.Connection


class _PooledConnection(_Connection):
    """Released connections skip asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL): one round trip per request saved. Safe because the session never changes —
    settings are fixed at connect, advisory locks are transaction-scoped, nothing LISTENs —
    and an open transaction is still rolled back on release."""

    def get_reset_query(self) -> str:
        return ""


def connect_options(settings: Settings) -> dict[str, Any]:
    return {
        "server_settings": {
            "application_name": "ticketing",
            "statement_timeout": str(settings.statement_timeout_ms),
            "lock_timeout": str(settings.lock_timeout_ms),
            # A transaction left idle this long belongs to a stalled request past its deadline.
            "idle_in_transaction_session_timeout": str(int(settings.request_deadline_seconds * 1000)),
            "timezone": "UTC",
        },
        "command_timeout": settings.statement_timeout_ms / 1000 + 5,
    }


def required(row: Record | None) -> Record:
    """The row of a statement that always returns one (INSERT/UPDATE … RETURNING of a known row)."""
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


async def create_pool(settings: Settings) -> Pool:
    """One pool per process. All connections are opened up front: a connection opened during
    a burst costs the server a fork at the worst moment. A database that is down at start does
    not stop the process: the pool then opens connections on demand, requests answer 503 and
    /readyz says why until it is back."""
    options = {"max_size": settings.db_pool_size, "connection_class": _PooledConnection, **connect_options(settings)}
    try:
        return await asyncpg.create_pool(settings.database_dsn, min_size=settings.db_pool_size, **options)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        log.warning("PostgreSQL is unreachable at start (%s); connecting on demand", error)
        return await asyncpg.create_pool(settings.database_dsn, min_size=0, **options)

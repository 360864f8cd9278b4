"""The connection pool, and ``Database``: the one door of repositories to asyncpg (the schema's
SQLAlchemy models, for Alembic, are in ``kernel/orm.py`` and never imported by the service)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from ticketing.config import Settings
from ticketing.kernel.locking import DRIVER_ERRORS, LockOutsideTransaction, raise_translated

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
    settings are fixed at connect (or, behind PgBouncer, local to each transaction), advisory
    locks are transaction-scoped, nothing LISTENs — and an open transaction is still rolled
    back on release."""

    def get_reset_query(self) -> str:
        return ""


def session_timeouts(settings: Settings) -> dict[str, str]:
    """The bounds every transaction runs under (ms)."""
    return {
        "statement_timeout": str(settings.statement_timeout_ms),
        "lock_timeout": str(settings.lock_timeout_ms),
        # A transaction left idle this long belongs to a stalled request past its deadline.
        "idle_in_transaction_session_timeout": str(int(settings.request_deadline_seconds * 1000)),
    }


def connect_options(settings: Settings) -> dict[str, Any]:
    """Straight to PostgreSQL, the timeouts are the session's, set once at connect (startup
    parameters). Behind PgBouncer in transaction mode (``TICKETING_DB_PGBOUNCER``) they cannot
    be: PgBouncer refuses unknown startup parameters ("unsupported startup parameter:
    statement_timeout"), and a session setting would stay on whichever server connection it was
    sent on. There each transaction sets them for itself (``transaction_settings_sql``, run by
    the unit of work), and asyncpg prepares no named statements (``statement_cache_size=0``):
    PgBouncer hands each transaction any server connection, where a statement prepared on
    another does not exist (PgBouncer 1.18 failed 34 of 60 concurrent transactions on it)."""
    server_settings = {"application_name": "ticketing", "timezone": "UTC"}  # both tracked by PgBouncer
    options: dict[str, Any] = {"command_timeout": settings.statement_timeout_ms / 1000 + 5}
    if settings.db_pgbouncer:
        options["statement_cache_size"] = 0
    else:
        server_settings |= session_timeouts(settings)
    options["server_settings"] = server_settings
    return options


def transaction_settings_sql(settings: Settings) -> str | None:
    """What a transaction sends first behind PgBouncer: the timeouts as ``SET LOCAL`` (they end
    with the transaction), one round trip in the simple protocol (no prepared statement).
    Statements outside a transaction (``autocommit`` units of work, single reads) are bounded by
    the client's ``command_timeout``, and by per-role settings if the database has them (docs/operations.md:
    ``ALTER ROLE ... SET``). None: straight to PostgreSQL, nothing to send."""
    if not settings.db_pgbouncer:
        return None
    return "; ".join(f"SET LOCAL {name} = {int(value)}" for name, value in session_timeouts(settings).items())


class Database:
    """What a repository sends its SQL through: one connection of a unit of work (``uow.db``),
    every driver error translated here, once (``raise_translated``: deadlock -> 503 to retry,
    lock timeout, statement timeout, lost database, unstorable input; constraint violations
    pass through for the repository to name). Plain try/except in each method, no context
    manager: free in Python 3.11+ when nothing is raised, and this is on every request.

    A lock held past its statement — ``SELECT ... FOR UPDATE / FOR SHARE``, an advisory
    ``pg_advisory_xact_lock`` — goes through ``lock_fetch`` / ``lock_fetchrow`` / ``lock_execute``,
    which raise ``LockOutsideTransaction`` outside an open transaction (an ``autocommit`` unit of
    work has none): there the lock would end with the statement and guard nothing. A single
    statement that locks and writes (the payment, a wallet charge) may run in autocommit and uses
    the plain methods: its locks are needed only until it ends."""

    __slots__ = ("_conn",)  # private: repositories send every statement through the methods below

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def fetch(self, query: str, *args: Any) -> list[Record]:
        try:
            return await self._conn.fetch(query, *args)
        except DRIVER_ERRORS as error:
            raise_translated(error)

    async def fetchrow(self, query: str, *args: Any) -> Record | None:
        try:
            return await self._conn.fetchrow(query, *args)
        except DRIVER_ERRORS as error:
            raise_translated(error)

    async def fetchval(self, query: str, *args: Any) -> Any:
        try:
            return await self._conn.fetchval(query, *args)
        except DRIVER_ERRORS as error:
            raise_translated(error)

    async def execute(self, query: str, *args: Any) -> str:
        """The command tag ("UPDATE 3")."""
        try:
            return await self._conn.execute(query, *args)
        except DRIVER_ERRORS as error:
            raise_translated(error)

    async def copy_records_to_table(self, table: str, *, records: Iterable[Sequence[Any]], columns: list[str]) -> None:
        try:
            await self._conn.copy_records_to_table(table, records=records, columns=columns)
        except DRIVER_ERRORS as error:
            raise_translated(error)

    # -- locks held to the end of the transaction ---------------------------------------------

    def _require_transaction(self, query: str) -> None:
        if not self._conn.is_in_transaction():
            raise LockOutsideTransaction(f"a lock outside a transaction would guard nothing: {query[:80]!r}")

    async def lock_fetch(self, query: str, *args: Any) -> list[Record]:
        self._require_transaction(query)
        return await self.fetch(query, *args)

    async def lock_fetchrow(self, query: str, *args: Any) -> Record | None:
        self._require_transaction(query)
        return await self.fetchrow(query, *args)

    async def lock_execute(self, query: str, *args: Any) -> str:
        self._require_transaction(query)
        return await self.execute(query, *args)


def required(row: Record | None) -> Record:
    """The row of a statement that always returns one (INSERT/UPDATE … RETURNING of a known row)."""
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


# A statement and parameters under which it matches no row, so that running it writes nothing.
WarmStatement: TypeAlias = tuple[str, tuple[Any, ...]]

# PostgreSQL plans a prepared statement anew for each of its first five executions (custom
# plans) and settles on its generic plan at the sixth (plancache.c): six runs leave it planned.
RUNS_TO_GENERIC_PLAN = 6


async def warm_connection(conn: _Connection, statements: Sequence[WarmStatement]) -> None:
    """Run each statement's no-op form ``RUNS_TO_GENERIC_PLAN`` times on a new connection, so
    that its first real executions find the statement prepared (asyncpg's cache keys it by its
    text), its generic plan made and the catalog entries of every table and index it touches
    loaded. Measured on the payment statement: about 9 ms of a backend's CPU over its first six
    payments, 180 ms over 20 new connections at once, all of it at the first second of a
    sale otherwise (docs/performance.md). A failure (tables not migrated yet) only costs the
    warmth."""
    try:
        for query, args in statements:
            for _ in range(RUNS_TO_GENERIC_PLAN):
                await conn.fetch(query, *args)
    except asyncpg.PostgresError as error:
        log.warning("statements not warmed on a new connection: %s", error)


async def create_pool(settings: Settings, warm: Sequence[WarmStatement] = ()) -> Pool:
    """One pool per process. All connections are opened up front: a connection opened during
    a burst costs the server a fork at the worst moment — and each runs the ``warm``
    statements first (``warm_connection``), for the same reason; not behind PgBouncer, where
    nothing stays prepared. A database that is down at start does not stop the process: the
    pool then opens connections on demand, requests answer 503 and /readyz says why until it
    is back."""
    options: dict[str, Any] = {
        "max_size": settings.db_pool_size,
        "connection_class": _PooledConnection,
        **connect_options(settings),
    }
    if warm and not settings.db_pgbouncer:
        options["init"] = functools.partial(warm_connection, statements=warm)
    try:
        return await asyncpg.create_pool(settings.database_dsn, min_size=settings.db_pool_size, **options)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        log.warning("PostgreSQL is unreachable at start (%s); connecting on demand", error)
        return await asyncpg.create_pool(settings.database_dsn, min_size=0, **options)

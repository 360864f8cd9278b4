"""The unit of work: one connection, one transaction, owned by the use case.

``async with uow: ...; await uow.commit()`` — anything not committed is rolled back when the
block exits. Side effects that must not happen for a rolled-back transaction (Redis writes,
queue token changes, cache invalidation) are written by the use case after its ``async with``
block, where the commit has succeeded: e.g. ``PaymentService.pay`` finishes the queue token only
after the payment committed.

Repositories are reached through it: ``uow.repo(PaymentRepository)`` builds the repository on
the unit of work's ``Database`` (``uow.db``: driver errors translated, lock statements refused
outside a transaction), once per unit of work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeAlias, TypeVar, cast

from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from ticketing.kernel import deadline
from ticketing.kernel.db import Database, Pool
from ticketing.kernel.locking import DRIVER_ERRORS, raise_translated

R = TypeVar("R")
# A repository class: built on the unit of work's ``Database``.
RepositoryKind: TypeAlias = Callable[[Database], object]


class UnitOfWork:
    """``autocommit=True``: each statement is its own transaction, one round trip without a
    BEGIN and a COMMIT/ROLLBACK around it — for reads, and for a write that is one statement
    (its row locks are then released inside the server, with no client round trip held open)."""

    def __init__(
        self,
        pool: Pool,
        *,
        autocommit: bool = False,
        acquire_timeout: float | None = None,
        begin_sql: str | None = None,
        repositories: Mapping[RepositoryKind, RepositoryKind] | None = None,
    ) -> None:
        self._pool = pool
        self.autocommit = autocommit
        self._acquire_timeout = acquire_timeout
        self._begin_sql = begin_sql  # sent right after BEGIN (kernel.db.transaction_settings_sql)
        self._conn: PoolConnectionProxy[Record] | None = None
        self._db: Database | None = None
        self._repos: dict[RepositoryKind, object] = {}
        self._substitutes = repositories
        self._tx: Any = None  # asyncpg's Transaction while one is open

    @property
    def conn(self) -> PoolConnectionProxy[Record]:
        """The bare connection, for tests and harnesses that write SQL of their own; the
        service's repositories use ``db`` (``repo``)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._conn

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._db

    def repo(self, kind: Callable[[Database], R]) -> R:
        """The repository ``kind`` on this unit of work's connection (one per unit of work)."""
        found = self._repos.get(kind)
        if found is None:
            make = self._substitutes.get(kind, kind) if self._substitutes else kind
            found = self._repos[kind] = make(self.db)
        return cast(R, found)

    async def __aenter__(self) -> UnitOfWork:
        deadline.ensure_time_left()
        timeout = min(self._acquire_timeout or math.inf, deadline.remaining())
        try:
            conn = await self._pool.acquire(timeout=None if timeout == math.inf else timeout)
            try:
                if not self.autocommit:
                    tx = conn.transaction()
                    await tx.start()
                    self._tx = tx
                    if self._begin_sql is not None:
                        await conn.execute(self._begin_sql)
            except BaseException:
                self._tx = None  # the release rolls an open transaction back
                await self._pool.release(conn)
                raise
        except DRIVER_ERRORS as error:
            raise_translated(error)
        self._conn = conn
        self._db = Database(conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = self._db = None
        self._repos.clear()
        try:
            if tx is not None:
                try:
                    await tx.rollback()
                except DRIVER_ERRORS as error:
                    raise_translated(error)
        finally:
            if conn is not None:
                await self._pool.release(conn)

    async def commit(self) -> None:
        if self.autocommit:
            raise RuntimeError("an autocommit unit of work has no transaction to commit")
        if self._tx is None:
            raise RuntimeError("the unit of work is not open")
        deadline.ensure_time_left()  # past it, the caller's ``async with`` rolls back
        tx, self._tx = self._tx, None
        try:
            await tx.commit()
        except DRIVER_ERRORS as error:
            raise_translated(error)


class UnitOfWorkFactory:
    """Opens the units of work of one pool. ``repositories``: what ``uow.repo(kind)`` builds in
    place of ``kind`` — a test's counting or failing subclass, handed to the services through
    their units of work rather than patched into the class."""

    def __init__(self, pool: Pool, *, acquire_timeout: float | None = None, begin_sql: str | None = None) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._begin_sql = begin_sql
        self.repositories: dict[RepositoryKind, RepositoryKind] = {}

    def __call__(self, *, autocommit: bool = False) -> UnitOfWork:
        return UnitOfWork(
            self._pool,
            autocommit=autocommit,
            acquire_timeout=self._acquire_timeout,
            begin_sql=self._begin_sql,
            repositories=self.repositories,
        )

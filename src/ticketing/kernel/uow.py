"""The unit of work: one connection, one transaction, owned by the use case.

``async with uow: ...; await uow.commit()`` — anything not committed is rolled back when the
block exits. Side effects that must not happen for a rolled-back transaction (Redis writes,
queue token changes, cache invalidation) are written by the use case after its ``async with``
block, where the commit has succeeded: e.g. ``PaymentService.pay`` finishes the queue token only
after the payment committed.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any, Protocol

from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from ticketing.kernel import deadline
from ticketing.kernel.db import Pool
from ticketing.kernel.locking import translate_db_errors


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
    ) -> None:
        self._pool = pool
        self.autocommit = autocommit
        self._acquire_timeout = acquire_timeout
        self._begin_sql = begin_sql  # sent right after BEGIN (kernel.db.transaction_settings_sql)
        self._conn: PoolConnectionProxy[Record] | None = None
        self._tx: Any = None  # asyncpg's Transaction while one is open

    @property
    def conn(self) -> PoolConnectionProxy[Record]:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        deadline.ensure_time_left()
        timeout = min(self._acquire_timeout or math.inf, deadline.remaining())
        with translate_db_errors():
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
        self._conn = conn
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        try:
            if tx is not None:
                with translate_db_errors():
                    await tx.rollback()
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
        with translate_db_errors():
            await tx.commit()


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, autocommit: bool = False) -> UnitOfWork: ...


def unit_of_work_factory(
    pool: Pool, *, acquire_timeout: float | None = None, begin_sql: str | None = None
) -> UnitOfWorkFactory:
    def make(*, autocommit: bool = False) -> UnitOfWork:
        return UnitOfWork(pool, autocommit=autocommit, acquire_timeout=acquire_timeout, begin_sql=begin_sql)

    return make

"""The unit of work: one connection, one transaction, owned by the use case.

``async with uow: ...; await uow.commit()`` — anything not committed is rolled back when the
block exits. Side effects that must not happen for a rolled-back transaction (Redis writes,
queue token changes) are registered with ``on_commit`` and run after the commit succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from ticketing.core.locking import translate_db_errors

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[object]]


class UnitOfWork:
    """``autocommit=True``: each statement is its own transaction, one round trip without a
    BEGIN and a COMMIT/ROLLBACK around it — for reads, and for a write that is one statement
    (its row locks are then released inside the server, with no client round trip held open)."""

    def __init__(self, engine: AsyncEngine, *, autocommit: bool = False) -> None:
        self._engine = engine
        self.autocommit = autocommit
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._after_commit: list[AfterCommit] = []

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        with translate_db_errors():
            self._conn = await self._engine.connect()
            if self.autocommit:
                await self._conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                self._tx = await self._conn.begin()
        self._after_commit = []
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        try:
            if tx is not None and tx.is_active:
                await tx.rollback()
        finally:
            if conn is not None:
                await conn.close()

    async def commit(self) -> None:
        if self.autocommit:
            raise RuntimeError("an autocommit unit of work has no transaction to commit")
        if self._tx is None:
            raise RuntimeError("the unit of work is not open")
        with translate_db_errors():
            await self._tx.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # the transaction is committed; a side effect must not turn it into an error
                log.exception("after-commit callback failed")

    def on_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, autocommit: bool = False) -> UnitOfWork: ...

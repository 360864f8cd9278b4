"""The database boundary (``kernel.db.Database``, reached as ``uow.db`` / ``uow.repo``): every
driver error is translated once, there, into the typed error the API answers with; a constraint
violation passes through for the repository to name; a lock held past its statement is refused
outside a transaction. Each failure is provoked for real on the suite's PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.factories import create_concert, create_schedule
from ticketing.container import Services
from ticketing.kernel.errors import ServiceUnavailable, ValidationError
from ticketing.kernel.locking import (
    CONFLICT,
    LOCK_TIMEOUT,
    NO_DATABASE,
    STATEMENT_TIMEOUT,
    LockOutsideTransaction,
    LockTimeout,
    TransientConflict,
)
from ticketing.payments.repository import PaymentRepository
from ticketing.reservations.repository import ReservationRepository
from ticketing.schedules.repository import SeatRepository

# Advisory lock keys of these tests only (the service's own are 1 << 48 and up).
FIRST, SECOND = (1 << 40) + 1, (1 << 40) + 2
ADVISORY_LOCK = "SELECT pg_advisory_xact_lock($1)"


async def test_a_real_deadlock_is_a_transient_conflict(services: Services) -> None:
    """Two transactions take two advisory locks in opposite orders: PostgreSQL's detector ends
    one (40P01), which arrives as the retryable 503; the other then gets its lock and commits."""
    both_hold_one = asyncio.Barrier(2)

    async def lock_both(first: int, second: int) -> TransientConflict | None:
        async with services.uow() as uow:
            await uow.db.lock_execute(ADVISORY_LOCK, first)
            await both_hold_one.wait()
            try:
                await uow.db.lock_execute(ADVISORY_LOCK, second)
            except TransientConflict as error:
                return error
            await uow.commit()
        return None

    outcomes = await asyncio.gather(lock_both(FIRST, SECOND), lock_both(SECOND, FIRST))
    [conflict] = [outcome for outcome in outcomes if outcome is not None]  # the other committed
    assert conflict.extra["reason"] == CONFLICT
    assert isinstance(conflict.__cause__, asyncpg.exceptions.DeadlockDetectedError)


async def test_a_lock_wait_past_lock_timeout_is_a_lock_timeout(services: Services) -> None:
    async with services.uow() as holder:
        await holder.db.lock_execute(ADVISORY_LOCK, FIRST)
        async with services.uow() as waiter:
            await waiter.db.execute("SET LOCAL lock_timeout = 50")
            with pytest.raises(LockTimeout) as caught:
                await waiter.db.lock_execute(ADVISORY_LOCK, FIRST)
    assert caught.value.extra["reason"] == LOCK_TIMEOUT
    assert isinstance(caught.value.__cause__, asyncpg.exceptions.LockNotAvailableError)  # 55P03


@pytest.mark.parametrize(
    ("settings_sql", "sql", "reason", "cause"),
    [
        # 57014 query_canceled
        ("SET LOCAL statement_timeout = 50", "SELECT pg_sleep(5)", STATEMENT_TIMEOUT, "QueryCanceledError"),
        # 53400 configuration_limit_exceeded (class 53): a sort that spills past temp_file_limit
        (
            "SET LOCAL work_mem = '64kB'; SET LOCAL temp_file_limit = '64kB'",
            "SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY -g) s",
            NO_DATABASE,
            "ConfigurationLimitExceededError",
        ),
    ],
)
async def test_a_statement_the_server_stops_is_a_503(
    services: Services, settings_sql: str, sql: str, reason: str, cause: str
) -> None:
    async with services.uow() as uow:
        await uow.db.execute(settings_sql)
        with pytest.raises(ServiceUnavailable) as caught:
            await uow.db.fetchval(sql)
    assert caught.value.extra["reason"] == reason
    assert type(caught.value.__cause__).__name__ == cause


async def test_a_connection_terminated_under_a_statement_is_a_503(services: Services) -> None:
    """57P01 admin_shutdown (class 57P) or, when the close is read first, 08003 (class 08): as
    when PostgreSQL is stopped under a request."""

    async def sleep_until_terminated() -> None:
        async with services.uow(autocommit=True) as victim:
            await victim.db.execute("SET application_name = 'boundary-victim'")
            await victim.db.fetchval("SELECT pg_sleep(30)")

    victim = asyncio.create_task(sleep_until_terminated())
    sleeping = "SELECT pid FROM pg_stat_activity WHERE application_name = 'boundary-victim' AND state = 'active'"
    async with services.uow(autocommit=True) as operator:
        async with asyncio.timeout(10):
            while (pid := await operator.db.fetchval(sleeping)) is None:  # noqa: ASYNC110 - a server state
                await asyncio.sleep(0.01)
        assert await operator.db.fetchval("SELECT pg_terminate_backend($1, 5000)", pid) is True
    with pytest.raises(ServiceUnavailable) as caught:
        await victim
    assert caught.value.extra["reason"] == NO_DATABASE
    assert type(caught.value.__cause__) in {
        asyncpg.exceptions.AdminShutdownError,
        asyncpg.exceptions.ConnectionDoesNotExistError,
    }


@pytest.mark.parametrize(
    ("sql", "argument", "sqlstate"),
    [
        ("SELECT $1::text", "a\u0000b", "22021"),  # a NUL: character_not_in_repertoire
        ("SELECT convert_from('\\xff'::bytea, 'UTF8') || $1::text", "", "22021"),  # invalid UTF-8
        ("SELECT $1::int4 + 2147483647", 1, "22003"),  # numeric_value_out_of_range
        ("SELECT $1::bigint", 2**64, "22000"),  # asyncpg cannot encode it
    ],
)
async def test_data_the_database_cannot_store_is_a_validation_error(
    services: Services, sql: str, argument: object, sqlstate: str
) -> None:
    async with services.uow(autocommit=True) as uow:
        with pytest.raises(ValidationError) as caught:
            await uow.db.fetchval(sql, argument)
    assert isinstance(caught.value.__cause__, asyncpg.PostgresError)
    assert caught.value.__cause__.sqlstate == sqlstate


async def test_a_constraint_violation_passes_through_for_the_repository_to_name(services: Services) -> None:
    async with services.uow() as uow:
        await uow.db.execute("CREATE TEMP TABLE once (id int PRIMARY KEY) ON COMMIT DROP")
        await uow.db.execute("INSERT INTO once VALUES (1)")
        with pytest.raises(asyncpg.exceptions.UniqueViolationError):
            await uow.db.execute("INSERT INTO once VALUES (1)")


async def test_a_lock_outside_a_transaction_is_refused(services: Services) -> None:
    """In an autocommit unit of work the lock would end with its statement: a programming error,
    raised before anything is sent — the lock methods of repositories included."""
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    async with services.uow(autocommit=True) as uow:
        with pytest.raises(LockOutsideTransaction):
            await uow.repo(SeatRepository).lock(seat_id)
        with pytest.raises(LockOutsideTransaction):
            await uow.repo(ReservationRepository).lock_user_holds(1)
        with pytest.raises(LockOutsideTransaction):
            await uow.repo(ReservationRepository).get(1, for_update=True)
        with pytest.raises(LockOutsideTransaction):
            await uow.repo(PaymentRepository).lock(1)
        assert await uow.repo(ReservationRepository).get(1) is None  # a plain read is fine
    async with services.uow() as uow:
        seat = await uow.repo(SeatRepository).lock(seat_id)
        assert seat is not None and seat.id == seat_id
        await uow.commit()
        with pytest.raises(LockOutsideTransaction):  # committed: no transaction any more
            await uow.repo(SeatRepository).lock(seat_id)


async def test_a_unit_of_work_builds_each_repository_once(services: Services) -> None:
    async with services.uow(autocommit=True) as uow:
        assert uow.repo(SeatRepository) is uow.repo(SeatRepository)
        assert uow.repo(SeatRepository).db is uow.db
    async with services.uow(autocommit=True) as other:
        assert other.repo(SeatRepository).db is other.db

"""Behind PgBouncer in transaction mode, with ``TICKETING_DB_PGBOUNCER=true``.

PgBouncer refused the service ("unsupported startup parameter: statement_timeout"); with the
parameter ignored the lock, statement and idle-in-transaction timeouts silently became 0; and
PgBouncer 1.18 (Debian 12's) failed concurrent transactions on asyncpg's named prepared
statements. Here a real PgBouncer 1.18+ sits between the services and the test database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.factories import create_concert, create_schedule, fans_with_tokens, outcome_codes
from ticketing.config import Settings
from ticketing.container import Services, open_services
from ticketing.idempotency.service import idempotent_request
from ticketing.kernel.db import connect_options

pytestmark = pytest.mark.pgbouncer

# Not PostgreSQL's defaults nor ours, and not whole seconds (SHOW prints them as "1234ms").
LOCK_MS, STATEMENT_MS = 1234, 8765


@pytest.fixture
def bounced(settings: Settings, pgbouncer_url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": pgbouncer_url,
            "db_pgbouncer": True,
            "lock_timeout_ms": LOCK_MS,
            "statement_timeout_ms": STATEMENT_MS,
            "request_deadline_seconds": 4.321,
        }
    )


@pytest.fixture
async def bounced_services(bounced: Settings, clean: None) -> AsyncIterator[Services]:
    async with open_services(bounced) as services:
        yield services


async def test_the_default_connection_is_refused_by_pgbouncer(settings: Settings, pgbouncer_url: str) -> None:
    """Why the setting exists: the timeouts as startup parameters."""
    direct = settings.model_copy(update={"database_url": pgbouncer_url})
    with pytest.raises(asyncpg.PostgresError, match="unsupported startup parameter"):
        await asyncpg.connect(direct.database_dsn, **connect_options(direct))


async def test_every_unit_of_work_runs_under_the_timeouts(bounced_services: Services) -> None:
    async def shown() -> tuple[str, str, str]:
        async with bounced_services.uow() as uow:
            values = (
                await uow.conn.fetchval("SHOW lock_timeout"),
                await uow.conn.fetchval("SHOW statement_timeout"),
                await uow.conn.fetchval("SHOW idle_in_transaction_session_timeout"),
            )
            await uow.commit()
        return values

    # Many at once: each on whichever server connection PgBouncer hands it.
    for values in await asyncio.gather(*(shown() for _ in range(40))):
        assert values == (f"{LOCK_MS}ms", f"{STATEMENT_MS}ms", "4321ms")
    # SET LOCAL: nothing stays on the server connection for the next client's transaction.
    async with bounced_services.uow(autocommit=True) as uow:
        assert await uow.conn.fetchval("SHOW lock_timeout") != f"{LOCK_MS}ms"


async def test_a_lock_wait_is_bounded_behind_pgbouncer(bounced_services: Services) -> None:
    """The timeout is in effect, not only shown: a row lock held elsewhere ends the wait."""
    async with bounced_services.uow() as holder:
        await holder.conn.execute("SELECT pg_advisory_xact_lock(4242)")
        # Without the timeout the wait would last (the test's own bound then fails it: TimeoutError).
        with pytest.raises(asyncpg.exceptions.LockNotAvailableError):
            async with asyncio.timeout(LOCK_MS / 1000 * 4), bounced_services.uow() as waiter:
                await waiter.conn.execute("SELECT pg_advisory_xact_lock(4242)")


async def test_holds_and_payments_through_pgbouncer(bounced_services: Services) -> None:
    """Concurrent holds (a race for one seat, and one seat each) and payments, through a pool of
    20 server connections: exact outcomes, no prepared-statement error."""
    services = bounced_services
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=31, price=1_000)
    fans = await fans_with_tokens(services, concert, 30, balance=10_000)
    race = await asyncio.gather(
        *(services.reservations.hold_seat(fan.principal, token, schedule.seats[30].id) for fan, token in fans[:20]),
        return_exceptions=True,
    )
    codes = outcome_codes(race)
    assert (codes.count("OK"), codes.count("SEAT_UNAVAILABLE")) == (1, 19), codes
    holds = await asyncio.gather(
        *(
            services.reservations.hold_seat(fan.principal, token, schedule.seats[i].id)
            for i, (fan, token) in enumerate(fans)
        ),
        return_exceptions=True,
    )
    assert outcome_codes(holds) == ["OK"] * 30
    paid = await asyncio.gather(
        *(
            services.payments.pay(
                fan.principal, token, [hold.id], idempotent_request(fan.id, f"pay-{hold.id}", "POST", "/p", b"")
            )
            for (fan, token), hold in zip(fans, holds, strict=True)
            if not isinstance(hold, BaseException)
        ),
        return_exceptions=True,
    )
    assert outcome_codes(paid) == ["OK"] * 30
    async with services.uow(autocommit=True) as uow:
        sold = await uow.conn.fetchval(
            "SELECT count(*) FROM reservations WHERE status = 'CONFIRMED' AND seat_id = ANY($1::bigint[])",
            [seat.id for seat in schedule.seats],
        )
        balances = await uow.conn.fetchval("SELECT sum(balance) FROM wallets")
    assert sold == 30
    assert balances == 30 * 10_000 - 30 * 1_000

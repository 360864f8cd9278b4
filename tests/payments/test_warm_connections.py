"""Every pooled connection runs the payment statement's no-op form before its first request
(``kernel.db.warm_connection``, ``payments.repository.WARM_STATEMENTS``): it must change nothing,
and leave the statement prepared with its generic plan on the connection."""

from __future__ import annotations

import asyncpg
import msgspec

from tests.factories import create_concert, create_schedule, fans_with_tokens
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.kernel.db import RUNS_TO_GENERIC_PLAN, warm_connection
from ticketing.payments.repository import SETTLE_ONE, WARM_STATEMENTS

# Every table the payment statement writes or locks, whole: the warm-up must leave each as it was.
SNAPSHOT = (
    "SELECT (SELECT json_agg(r ORDER BY r.id) FROM reservations r), (SELECT json_agg(s ORDER BY s.id) FROM seats s), "
    "(SELECT json_agg(w ORDER BY w.id) FROM wallets w), (SELECT count(*) FROM payments), "
    "(SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM tickets)"
)
PLANS = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1"


async def test_warming_a_connection_changes_nothing_and_leaves_the_generic_plan(
    services: Services, settings: Settings
) -> None:
    concert = await create_concert(services)
    seats = (await create_schedule(services, concert, seats=2, price=10_000)).seats
    [(fan, token)] = await fans_with_tokens(services, concert, 1, balance=50_000)
    await services.reservations.hold_seats(fan.principal, token, [seats[0].id])
    conn = await asyncpg.connect(settings.database_dsn)
    try:
        before = await conn.fetchrow(SNAPSHOT)
        await warm_connection(conn, WARM_STATEMENTS)
        assert await conn.fetchrow(SNAPSHOT) == before
        # Five custom plans, then the generic one: the next payment on this connection plans nothing.
        assert [tuple(row) for row in await conn.fetch(PLANS, SETTLE_ONE)] == [(RUNS_TO_GENERIC_PLAN - 5, 5)]
    finally:
        await conn.close()


async def test_the_pool_hands_out_warm_connections_that_pay(services: Services) -> None:
    concert = await create_concert(services)
    seats = (await create_schedule(services, concert, seats=1, price=10_000)).seats
    [(fan, token)] = await fans_with_tokens(services, concert, 1, balance=50_000)
    async with services.pool.acquire() as conn:
        assert [tuple(row) for row in await conn.fetch(PLANS, SETTLE_ONE)] == [(1, 5)]
    [held] = await services.reservations.hold_seats(fan.principal, token, [seats[0].id])
    reply = await services.payments.pay(fan.principal, token, [held.id], None)
    assert reply.status_code == 201
    assert msgspec.json.decode(reply.body)["reservation_id"] == held.id
    async with services.uow(autocommit=True) as uow:
        paid = await uow.conn.fetchrow(
            "SELECT (SELECT status FROM reservations WHERE id = $1), (SELECT balance FROM wallets WHERE id = $2), "
            "(SELECT count(*) FROM tickets WHERE reservation_id = $1)",
            held.id,
            fan.wallet_id,
        )
    assert paid is not None
    assert tuple(paid) == ("CONFIRMED", 40_000, 1)


async def test_a_database_without_the_tables_only_costs_the_warmth(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_dsn)
    try:
        await warm_connection(conn, [("SELECT * FROM no_such_table WHERE id = $1", (0,))])  # logged, not raised
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()

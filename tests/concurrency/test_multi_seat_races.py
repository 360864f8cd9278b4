"""Several seats in one hold: all or nothing, and deadlock-free because every hold locks its seats
in ascending id order, whatever order the fan listed them in; and what the lock study's other
order (the fan's own, bench only) does to the same race."""

from __future__ import annotations

import asyncio

from tests.factories import create_concert, create_schedule, fans_with_tokens, outcome_codes
from ticketing.container import Services
from ticketing.kernel.errors import AppError


async def reported_deadlocks(services: Services) -> int:
    """The database's deadlock count, with every pooled connection's own count in it. A backend
    counts the deadlock it was the victim of locally and reports it when idle, at most once a
    second (else 10 s later): each connection of the pool is asked to report at once first, which
    it has done before it answers (PostgreSQL reports when it goes idle, before ReadyForQuery)."""
    pool = services.pool
    held = [await pool.acquire() for _ in range(pool.get_max_size())]  # every connection of the pool
    try:
        for conn in held:
            await conn.execute("SELECT pg_stat_force_next_flush()")
        sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        return int(await held[0].fetchval(sql) or 0)
    finally:
        for conn in held:
            await pool.release(conn)


async def race_in_opposite_orders(services: Services, rounds: int) -> None:
    """Per round, two fans hold the same three fresh seats at once, listed in opposite orders:
    exactly one gets all three (201), the other none (409, told which seats were taken, never a
    503); then the hold is released, so the per-fan cap never interferes with the next round."""
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3 * rounds)
    (first, first_token), (second, second_token) = await fans_with_tokens(services, concert, 2)
    for n in range(rounds):
        a, b, c = (seat.id for seat in schedule.seats[3 * n : 3 * n + 3])
        outcomes = await asyncio.gather(
            services.reservations.hold_seats(first.principal, first_token, [a, b, c]),
            services.reservations.hold_seats(second.principal, second_token, [c, b, a]),
            return_exceptions=True,
        )
        assert sorted(outcome_codes(list(outcomes))) == ["OK", "SEAT_UNAVAILABLE"], outcomes
        won = next(o for o in outcomes if isinstance(o, list))
        lost = next(o for o in outcomes if isinstance(o, AppError))
        assert sorted(r.seat_id for r in won) == [a, b, c]  # all of them, never a part
        assert lost.extra["unavailable_seat_ids"]  # the loser is told which seats were taken
        assert set(lost.extra["unavailable_seat_ids"]) <= {a, b, c}
        async with services.uow(autocommit=True) as uow:
            holders = await uow.conn.fetch(
                "SELECT seat_id, user_id FROM reservations WHERE seat_id = ANY($1::bigint[]) "
                "AND status IN ('HELD', 'CONFIRMED')",
                [a, b, c],
            )
        assert sorted((seat, user) for seat, user in holders) == [(s, won[0].user_id) for s in (a, b, c)]
        for reservation in won:
            holder = first if reservation.user_id == first.id else second
            await services.reservations.release(holder.principal, reservation.id)


async def test_overlapping_sets_in_opposite_orders_never_deadlock_nor_half_hold(services: Services) -> None:
    services.reservations.strategy = "db"  # row locks only: the Redis locks would turn one away first
    deadlocks_before = await reported_deadlocks(services)
    await race_in_opposite_orders(services, rounds=25)
    assert await reported_deadlocks(services) == deadlocks_before


async def test_redis_locks_are_taken_in_order_too(services: Services) -> None:
    """The default strategy's Redis seat locks: the same pairs race, still one winner, no half."""
    concert = await create_concert(services)
    rounds = 15
    schedule = await create_schedule(services, concert, seats=2 * rounds)
    (first, first_token), (second, second_token) = await fans_with_tokens(services, concert, 2)
    for n in range(rounds):
        a, b = (seat.id for seat in schedule.seats[2 * n : 2 * n + 2])
        outcomes = await asyncio.gather(
            services.reservations.hold_seats(first.principal, first_token, [a, b]),
            services.reservations.hold_seats(second.principal, second_token, [b, a]),
            return_exceptions=True,
        )
        assert sorted(outcome_codes(list(outcomes))) == ["OK", "SEAT_UNAVAILABLE"], outcomes
        async with services.uow(autocommit=True) as uow:
            holders = await uow.conn.fetch(
                "SELECT user_id, count(*) FROM reservations WHERE seat_id = ANY($1::bigint[]) AND status = 'HELD' "
                "GROUP BY user_id",
                [a, b],
            )
        assert [count for _, count in holders] == [2]  # both seats to the one winner, never a seat each
        for outcome in outcomes:
            if isinstance(outcome, list):
                holder = first if outcome[0].user_id == first.id else second
                for reservation in outcome:
                    await services.reservations.release(holder.principal, reservation.id)

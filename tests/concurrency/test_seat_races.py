"""Races on seats and money: real transactions on separate connections, exact outcomes."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import pytest

from tests.factories import (
    create_concert,
    create_schedule,
    fans_with_tokens,
    lapse_hold,
    outcome_codes,
)
from ticketing.container import Services
from ticketing.devservers.embedded import free_port
from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply, idempotent_request
from ticketing.kernel.db import required
from ticketing.kernel.locking import SEAT_LOCK_STRATEGIES, SeatLockStrategy
from ticketing.kernel.redis import create_redis
from ticketing.payments.service import PaymentService
from ticketing.reservations.service import ReservationService
from ticketing.reservations.store import SeatLockStore


async def live_reservations(services: Services, seat_id: int) -> int:
    async with services.uow() as uow:
        count = await uow.conn.fetchval(
            "SELECT count(*) FROM reservations WHERE seat_id = $1 AND status IN ('HELD', 'CONFIRMED')", seat_id
        )
    return int(count or 0)


async def race_for_one_seat(services: Services, reservations: ReservationService, racers: int = 100) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=1)
    fans = await fans_with_tokens(services, concert, racers)
    seat_id = schedule.seats[0].id
    outcomes = await asyncio.gather(
        *(reservations.hold_seat(fan.principal, token, seat_id) for fan, token in fans), return_exceptions=True
    )
    codes = outcome_codes(outcomes)
    assert codes.count("OK") == 1
    assert codes.count("SEAT_UNAVAILABLE") == racers - 1
    assert await live_reservations(services, seat_id) == 1


@pytest.mark.parametrize("strategy", SEAT_LOCK_STRATEGIES)
async def test_100_fans_race_for_one_seat(services: Services, strategy: SeatLockStrategy) -> None:
    services.reservations.strategy = strategy
    await race_for_one_seat(services, services.reservations)


async def test_with_redis_down_the_database_alone_keeps_one_winner(services: Services) -> None:
    dead_redis = create_redis(services.settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    reservations = ReservationService(
        services.uow,
        SeatLockStore(dead_redis),  # the seat locks' Redis is gone; the queue's still answers
        services.waiting_room,
        services.schedules,
        services.users,
        strategy="redis+db",
        hold_seconds=300,
        max_holds_per_user=4,
    )
    try:
        await race_for_one_seat(services, reservations, racers=50)
    finally:
        await dead_redis.aclose()


async def test_hold_cap_holds_under_concurrency(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=10)
    [(fan, token)] = await fans_with_tokens(services, concert, 1)
    outcomes = await asyncio.gather(
        *(services.reservations.hold_seat(fan.principal, token, s.id) for s in schedule.seats), return_exceptions=True
    )
    codes = outcome_codes(outcomes)
    assert codes.count("OK") == 4
    assert codes.count("HOLD_LIMIT_REACHED") == 6


async def test_20_concurrent_payments_of_one_reservation(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=1, price=40_000)
    [(fan, token)] = await fans_with_tokens(services, concert, 1, balance=100_000)
    held = await services.reservations.hold_seat(fan.principal, token, schedule.seats[0].id)
    outcomes = await asyncio.gather(
        *(services.payments.pay(fan.principal, token, [held.id], None) for _ in range(20)), return_exceptions=True
    )
    codes = outcome_codes(outcomes)
    assert codes.count("OK") == 1
    assert set(codes) <= {"OK", "RESERVATION_NOT_HELD", "TOKEN_INVALID"}
    async with services.uow() as uow:
        payments = await uow.conn.fetchval("SELECT count(*) FROM payments")
        balance = await uow.conn.fetchval("SELECT balance FROM wallets WHERE id = $1", fan.wallet_id)
    assert payments == 1
    assert balance == 60_000


class SlowReplay(IdempotencyService):
    """A replay whose "nothing stored" answer arrives late: meanwhile the first request with the
    key commits its payment and finishes the queue token (what a twin on a busy server sees)."""

    async def replay(self, request: IdempotentRequest | None) -> StoredReply | None:
        found = await super().replay(request)
        await asyncio.sleep(0.1)
        return found


async def test_a_payment_twin_that_finds_the_token_finished_replays_the_payment(services: Services) -> None:
    """Twins of one payment (one Idempotency-Key, as a client retrying a lost answer sends) all get
    the first one's 201, also a twin that reaches the queue-token check after the first payment
    finished the token: docs/api.md puts the replay before that check."""
    late = PaymentService(
        services.uow,
        SlowReplay(services.uow, 24),
        services.waiting_room,
        services.schedules,
        services.reservations,
        services.wallets,
        services.tickets,
    )
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3, price=1_000)
    fans = await fans_with_tokens(services, concert, 3, balance=5_000)
    for (fan, token), seat in zip(fans, schedule.seats, strict=True):
        held = await services.reservations.hold_seat(fan.principal, token, seat.id)
        body = msgspec.json.encode({"reservation_id": held.id})
        key = idempotent_request(fan.id, f"pay-{held.id}", "POST", "/api/v1/payments", body)
        first, *twins = await asyncio.gather(
            services.payments.pay(fan.principal, token, [held.id], key),
            *(late.pay(fan.principal, token, [held.id], key) for _ in range(3)),
        )
        assert first.status_code == 201
        assert all(twin == first for twin in twins)
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM payments") == 3


async def test_payment_racing_the_expiry_sweeper(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=20, price=1_000)
    fans = await fans_with_tokens(services, concert, 20, balance=5_000)
    holds = [
        await services.reservations.hold_seat(fan.principal, token, seat.id)
        for (fan, token), seat in zip(fans, schedule.seats, strict=True)
    ]
    # Each hold lapses within a few milliseconds of its payment arriving, while sweepers run.
    for held in holds:
        await lapse_hold(services, held.id, seconds_ago=-random.uniform(0.0, 0.03))  # noqa: S311

    async def pay(index: int) -> Any:
        fan, token = fans[index]
        await asyncio.sleep(random.uniform(0.0, 0.03))  # noqa: S311
        return await services.payments.pay(fan.principal, token, [holds[index].id], None)

    async def sweep() -> None:
        for _ in range(10):
            await services.reservations.expire_lapsed()
            await asyncio.sleep(0.005)

    outcomes = await asyncio.gather(*(pay(i) for i in range(20)), sweep(), sweep(), return_exceptions=True)
    codes = outcome_codes(outcomes[:20])
    assert set(codes) <= {"OK", "RESERVATION_EXPIRED", "RESERVATION_NOT_HELD"}
    async with services.uow() as uow:
        rows = await uow.conn.fetch(
            "SELECT r.status, s.status, w.balance, "
            "(SELECT count(*) FROM payments p WHERE p.reservation_id = r.id) "
            "FROM reservations r JOIN seats s ON s.id = r.seat_id JOIN wallets w ON w.user_id = r.user_id "
            "WHERE r.id = ANY($1::bigint[]) ORDER BY r.id",
            [h.id for h in holds],
        )
    for code, (reservation, seat, balance, payments) in zip(codes, rows, strict=True):
        if code == "OK":
            assert (reservation, seat, balance, payments) == ("CONFIRMED", "SOLD", 4_000, 1)
        else:  # exactly one outcome: not paid, money untouched, the seat not sold
            assert reservation in ("HELD", "EXPIRED")
            assert seat != "SOLD"
            assert (balance, payments) == (5_000, 0)


async def test_payments_and_charges_racing_on_one_wallet(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=4, price=10_000)
    [(fan, token)] = await fans_with_tokens(services, concert, 1, balance=25_000)
    holds = [await services.reservations.hold_seat(fan.principal, token, s.id) for s in schedule.seats]
    payments = [services.payments.pay(fan.principal, token, [h.id], None) for h in holds]
    charges = [services.wallets.charge(fan.principal, fan.wallet_id, 1_000, None) for _ in range(30)]
    mixed = [*payments, *charges]
    random.shuffle(mixed)
    outcome_codes(await asyncio.gather(*mixed, return_exceptions=True))
    async with services.uow() as uow:
        balance, ledger_sum, paid = required(
            await uow.conn.fetchrow(
                "SELECT w.balance, "
                "(SELECT COALESCE(SUM(CASE WHEN kind = 'PAYMENT' THEN -amount ELSE amount END), 0) "
                " FROM ledger_entries l WHERE l.wallet_id = w.id), "
                "(SELECT COALESCE(SUM(amount), 0) FROM payments p WHERE p.user_id = w.user_id) "
                "FROM wallets w WHERE w.id = $1",
                fan.wallet_id,
            )
        )
    assert balance == ledger_sum
    assert balance == 25_000 + 30 * 1_000 - paid
    assert balance >= 0

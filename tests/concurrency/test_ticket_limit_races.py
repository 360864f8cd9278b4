"""Fans first, raced on real PostgreSQL (every request in its own transaction on its own
connection): one fan's holds at once never pass the per-fan ticket limit of a date
(TICKETING_MAX_TICKETS_PER_FAN), and one fan's refunds at once never pass the refund limit of a
date (TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE). Without the fan's lock every racer counts the
others' seats as absent and all of them pass."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import admitted_token, create_concert, create_schedule, create_user, outcome_codes
from tests.tickets.purchases import buy, money_state
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.reservations.repository import ReservationRepository

LIMIT = 4  # TICKETING_MAX_TICKETS_PER_FAN (the default)
RACERS = 10
REFUNDS = 2  # TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE (the default)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    assert (settings.max_tickets_per_fan, settings.max_refunds_per_fan_per_date) == (LIMIT, REFUNDS)
    # The per-user hold cap above the ticket limit: what the races below meet is the new limit.
    return settings.model_copy(update={"max_holds_per_user": 2 * RACERS})


class AllAtTheFansLock:
    """Every racer waits, just before it asks for the fan's lock, until all ``racers`` are there:
    the transactions are all open at once, so only the lock can keep their counts apart (the
    event loop alone may run short transactions one after the other)."""

    def __init__(self, services: Services, racers: int) -> None:
        self.racers, self.arrived, self.all_here = racers, 0, asyncio.Event()
        barrier = self

        class ArriveThenLock(ReservationRepository):
            async def lock_user_holds(self, user_id: int) -> None:
                barrier.arrived += 1
                if barrier.arrived == barrier.racers:
                    barrier.all_here.set()
                await asyncio.wait_for(barrier.all_here.wait(), 10)
                await super().lock_user_holds(user_id)

        services.uow.repositories[ReservationRepository] = ArriveThenLock


async def live_and_paid(services: Services, user_id: int, schedule_id: int) -> int:
    async with services.uow(autocommit=True) as uow:
        return int(
            await uow.conn.fetchval(
                "SELECT count(*) FROM reservations WHERE user_id = $1 AND schedule_id = $2 "
                "AND (status = 'CONFIRMED' OR (status = 'HELD' AND held_until > now()))",
                user_id,
                schedule_id,
            )
        )


async def test_ten_holds_of_one_fan_at_once_get_exactly_the_limit(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=RACERS)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    AllAtTheFansLock(services, RACERS)
    outcomes = await asyncio.gather(
        *(services.reservations.hold_seat(fan.principal, token, seat.id) for seat in schedule.seats),
        return_exceptions=True,
    )
    codes = outcome_codes(outcomes)
    assert codes.count("OK") == min(LIMIT, 2 * RACERS)
    assert codes.count("TICKET_LIMIT_REACHED") == RACERS - LIMIT
    assert await live_and_paid(services, fan.id, schedule.id) == LIMIT


async def test_several_seat_holds_at_once_count_every_seat(services: Services) -> None:
    """Ten holds of two seats each, at once, with two seats already paid: exactly one fits."""
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=22)
    purchase = await buy(services, seats=2, concert_id=concert, schedule=schedule)
    token = await admitted_token(services, purchase.fan, concert)
    AllAtTheFansLock(services, 10)
    free = [seat.id for seat in schedule.seats[2:]]
    pairs = [free[i : i + 2] for i in range(0, 20, 2)]
    outcomes = await asyncio.gather(
        *(services.reservations.hold_seats(purchase.fan.principal, token, pair) for pair in pairs),
        return_exceptions=True,
    )
    assert sorted(outcome_codes(outcomes)) == ["OK"] + ["TICKET_LIMIT_REACHED"] * 9
    assert await live_and_paid(services, purchase.fan.id, schedule.id) == LIMIT


async def test_refunds_of_one_date_at_once_get_exactly_the_limit(services: Services) -> None:
    """Four paid seats of one date, all refunded at once: exactly two are, once each."""
    purchase = await buy(services, seats=4, price=10_000)
    before = await money_state(services, purchase)
    outcomes = await asyncio.gather(
        *(services.payments.refund(purchase.fan.principal, p["id"], None) for p in purchase.payments),
        return_exceptions=True,
    )
    assert sorted(outcome_codes(outcomes)) == ["OK"] * REFUNDS + ["REFUND_LIMIT_REACHED"] * (4 - REFUNDS)
    after = await money_state(services, purchase)
    assert after["refund_rows"] == REFUNDS
    assert after["balance"] == before["balance"] + REFUNDS * 10_000
    assert sorted(after["payments"]) == sorted(
        [("REFUNDED", "REFUNDED", "REFUNDED")] * REFUNDS + [("PAID", "CONFIRMED", "VALID")] * (4 - REFUNDS)
    )


async def test_the_last_refund_left_raced_by_two_goes_to_one(services: Services) -> None:
    """Five fans, each with one refund of a date left, each refunding two payments at once (all
    ten at the same moment): each fan gets exactly one."""
    purchases = [await buy(services, seats=3, price=10_000) for _ in range(5)]
    for purchase in purchases:
        await services.payments.refund(purchase.fan.principal, purchase.payments[0]["id"], None)
    AllAtTheFansLock(services, 10)
    outcomes = await asyncio.gather(
        *(
            services.payments.refund(purchase.fan.principal, payment["id"], None)
            for purchase in purchases
            for payment in purchase.payments[1:]
        ),
        return_exceptions=True,
    )
    codes = outcome_codes(outcomes)
    for fan in range(5):
        assert sorted(codes[2 * fan : 2 * fan + 2]) == ["OK", "REFUND_LIMIT_REACHED"]
    for purchase in purchases:
        assert (await money_state(services, purchase))["refund_rows"] == REFUNDS

"""Refund races on real PostgreSQL: every request in its own transaction on its own
connection. Concurrent refunds of one payment credit it once, whatever their Idempotency-Keys; a
refund racing a check-in of its ticket: exactly one wins; a refund of a sold-out concert reopens
its waiting room."""

from __future__ import annotations

import asyncio
from functools import partial

import msgspec

from tests.factories import create_user, join_queue, outcome_codes
from tests.tickets.purchases import Purchase, buy, money_state, ticket_of
from ticketing.container import Services
from ticketing.idempotency.service import IdempotentRequest, idempotent_request

RACERS = 20


def key(purchase: Purchase, name: str) -> IdempotentRequest | None:
    path = f"/api/v1/payments/{purchase.payment_id}/refund"
    return idempotent_request(purchase.fan.id, name, "POST", path, b"")


async def assert_refunded_once(services: Services, purchase: Purchase, balance_before: int) -> None:
    state = await money_state(services, purchase)
    assert state["refund_rows"] == 1
    assert state["balance"] == balance_before + purchase.payments[0]["amount"]
    assert state["payments"] == [("REFUNDED", "REFUNDED", "REFUNDED")]


async def test_concurrent_refunds_of_one_payment_without_a_key_credit_once(services: Services) -> None:
    purchase = await buy(services, price=12_345)
    before = (await money_state(services, purchase))["balance"]
    outcomes = await asyncio.gather(
        *(services.payments.refund(purchase.fan.principal, purchase.payment_id, None) for _ in range(RACERS)),
        return_exceptions=True,
    )
    assert sorted(outcome_codes(outcomes)) == ["OK"] + ["PAYMENT_ALREADY_REFUNDED"] * (RACERS - 1)
    await assert_refunded_once(services, purchase, before)


async def test_concurrent_refunds_with_different_keys_credit_once(services: Services) -> None:
    purchase = await buy(services, price=5_000)
    before = (await money_state(services, purchase))["balance"]
    outcomes = await asyncio.gather(
        *(
            services.payments.refund(purchase.fan.principal, purchase.payment_id, key(purchase, f"k{i}"))
            for i in range(RACERS)
        ),
        return_exceptions=True,
    )
    assert sorted(outcome_codes(outcomes)) == ["OK"] + ["PAYMENT_ALREADY_REFUNDED"] * (RACERS - 1)
    await assert_refunded_once(services, purchase, before)


async def test_concurrent_refunds_with_one_key_credit_once_and_answer_alike(services: Services) -> None:
    purchase = await buy(services, price=7_000)
    before = (await money_state(services, purchase))["balance"]
    same = key(purchase, "one-key")
    outcomes = await asyncio.gather(
        *(services.payments.refund(purchase.fan.principal, purchase.payment_id, same) for _ in range(RACERS)),
        return_exceptions=True,
    )
    codes = outcome_codes(outcomes)
    # Each twin waits for the first on the key's row and replays its answer (or, past the lock
    # wait, is told the key is in use); none refunds again.
    assert set(codes) <= {"OK", "IDEMPOTENCY_KEY_IN_USE"} and "OK" in codes
    replies = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len({(r.status_code, r.body) for r in replies}) == 1
    assert msgspec.json.decode(replies[0].body)["status"] == "REFUNDED"
    await assert_refunded_once(services, purchase, before)


async def test_a_refund_racing_a_check_in_exactly_one_wins(services: Services) -> None:
    """Ten tickets, each refunded and checked in at the same moment: per ticket exactly one of
    the two succeeds, the other is refused with the code that says why, and the money agrees."""
    purchases = [await buy(services, price=1_000) for _ in range(10)]
    codes = [(await ticket_of(services, p.payment_id))["code"] for p in purchases]
    balances = [(await money_state(services, p))["balance"] for p in purchases]

    async def race(purchase: Purchase, code: str) -> list[str]:
        outcomes = await asyncio.gather(
            services.payments.refund(purchase.fan.principal, purchase.payment_id, None),
            services.tickets.check_in(code),
            return_exceptions=True,
        )
        return outcome_codes(list(outcomes))

    results = await asyncio.gather(*(race(p, c) for p, c in zip(purchases, codes, strict=True)))
    for purchase, balance, result in zip(purchases, balances, results, strict=True):
        await assert_one_won(services, purchase, balance, result)


async def test_whichever_reaches_the_ticket_first_wins_the_other_is_refused(services: Services) -> None:
    """Both wait on the ticket's row lock (held by a third transaction) and are let go at once:
    the first in the queue wins. Alternating which one queues first shows both outcomes."""
    purchases = [await buy(services, price=1_000) for _ in range(6)]
    for n, purchase in enumerate(purchases):
        code = (await ticket_of(services, purchase.payment_id))["code"]
        balance = (await money_state(services, purchase))["balance"]
        refund = partial(services.payments.refund, purchase.fan.principal, purchase.payment_id, None)
        check_in = partial(services.tickets.check_in, code)
        first, second = (refund, check_in) if n % 2 == 0 else (check_in, refund)
        async with services.uow() as blocker:
            await blocker.conn.execute("SELECT 1 FROM tickets WHERE payment_id = $1 FOR UPDATE", purchase.payment_id)
            tasks = [asyncio.create_task(first())]
            await waiting_on_locks(services, 1)
            tasks.append(asyncio.create_task(second()))
            await waiting_on_locks(services, 2)
        # The blocker rolled back: both go on, in the order they queued.
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        by_name = dict(zip(("first", "second"), outcome_codes(list(outcomes)), strict=True))
        assert by_name["first"] == "OK", by_name
        result = [by_name["first"], by_name["second"]] if first is refund else [by_name["second"], by_name["first"]]
        await assert_one_won(services, purchase, balance, result)
        assert result == (["OK", "TICKET_REFUNDED"] if first is refund else ["TICKET_ALREADY_USED", "OK"])


async def waiting_on_locks(services: Services, count: int) -> None:
    """Until ``count`` sessions of the test database wait on a lock."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    for _ in range(1000):
        async with services.uow(autocommit=True) as uow:
            if await uow.conn.fetchval(sql) >= count:
                return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} sessions never waited on a lock")


async def assert_one_won(services: Services, purchase: Purchase, balance: int, result: list[str]) -> None:
    """``result``: the refund's outcome, then the check-in's."""
    state = await money_state(services, purchase)
    if result == ["OK", "TICKET_REFUNDED"]:
        assert state["payments"] == [("REFUNDED", "REFUNDED", "REFUNDED")]
        assert (state["balance"], state["refund_rows"]) == (balance + 1_000, 1)
    else:
        assert result == ["TICKET_ALREADY_USED", "OK"]
        assert state["payments"] == [("PAID", "CONFIRMED", "USED")]
        assert (state["balance"], state["refund_rows"]) == (balance, 0)


async def test_a_refund_of_a_sold_out_concert_reopens_the_queue_and_the_seat(services: Services) -> None:
    purchase = await buy(services, seats=4)  # every seat of the only date: sold out
    waiter = await create_user(services, balance=10_000)
    waiting, _ = await join_queue(services, waiter.principal, purchase.concert_id)
    assert (await services.waiting_room.token_info(waiting.token)).status == "SOLD_OUT"
    assert await services.waiting_room.admit(purchase.concert_id) == 0

    await services.payments.refund(purchase.fan.principal, purchase.payment_id, None)

    assert (await services.waiting_room.token_info(waiting.token)).status == "WAITING"
    assert await services.waiting_room.admit(purchase.concert_id) == 1
    assert (await services.waiting_room.token_info(waiting.token)).status == "ACTIVE"
    seats = msgspec.json.decode(await services.schedules.seats(waiter.id, waiting.token, purchase.schedule.id))
    refunded_seat = (await ticket_of(services, purchase.payment_id))["seat_id"]
    assert [s["id"] for s in seats if s["available"]] == [refunded_seat]
    held = await services.reservations.hold_seat(waiter.principal, waiting.token, refunded_seat)
    paid = await services.payments.pay(waiter.principal, waiting.token, [held.id], None)
    assert paid.status_code == 201


async def test_the_sold_out_job_reopens_a_queue_a_refund_could_not_tell(services: Services) -> None:
    """The refund's own reopening is after its commit, on Redis; if Redis failed just then, the
    sold-out job's next tick reopens the queue from the database."""
    from ticketing.waiting_room.jobs import sold_out_job

    purchase = await buy(services, seats=4)
    waiter = await create_user(services)
    waiting, _ = await join_queue(services, waiter.principal, purchase.concert_id)
    job = sold_out_job(services.waiting_room, services.schedules.concert_sold_out)
    await job.run()
    assert (await services.waiting_room.token_info(waiting.token)).status == "SOLD_OUT"
    await services.payments.refund(purchase.fan.principal, purchase.payment_id, None)
    await services.waiting_room.mark_sold_out(purchase.concert_id)  # as if the refund's clear was lost
    assert (await services.waiting_room.token_info(waiting.token)).status == "SOLD_OUT"
    await job.run()
    assert (await services.waiting_room.token_info(waiting.token)).status == "WAITING"

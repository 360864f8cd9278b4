"""Refunds (docs/api.md): the wallet credited with a REFUND ledger row, the reservation
REFUNDED, the seat on sale again, the ticket void; every refusal with its code; the money
invariants of the benchmark's audit after refunds."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import pytest
from bench.repository import BenchRepository
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import admitted_token, create_user
from tests.support import assert_problem
from tests.tickets.purchases import buy, money_state, ticket_of
from ticketing.container import Services
from ticketing.idempotency.service import idempotent_request
from ticketing.kernel.errors import AppError

Client = AsyncTestClient[Litestar]


def refund_path(payment_id: int) -> str:
    return f"/api/v1/payments/{payment_id}/refund"


async def test_a_refund_gives_the_money_back_and_puts_the_seat_on_sale(client: Client, services: Services) -> None:
    purchase = await buy(services, seats=2, price=30_000, balance=70_000)
    payment = purchase.payments[0]
    seat = purchase.schedule.seats[0]

    response = await client.post(refund_path(payment["id"]), headers=purchase.fan.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in payment} == {**payment, "status": "REFUNDED"}
    assert datetime.fromisoformat(body["refunded_at"]) >= datetime.fromisoformat(payment["paid_at"])
    assert body["refunded_at"].endswith(("Z", "+00:00"))

    state = await money_state(services, purchase)
    assert state["balance"] == 10_000 + 30_000
    assert state["refund_rows"] == 1
    assert state["payments"] == [("REFUNDED", "REFUNDED", "REFUNDED"), ("PAID", "CONFIRMED", "VALID")]
    assert (seat.id, "AVAILABLE") in state["seats"]

    # What the fan reads: the ledger's REFUND row, the payment's status, the reservation's.
    ledger = (await client.get(f"/api/v1/wallets/{purchase.fan.wallet_id}/ledger", headers=purchase.fan.headers)).json()
    assert ledger["items"][0] | {"id": 0, "created_at": ""} == {
        "id": 0,
        "kind": "REFUND",
        "amount": 30_000,
        "balance_after": 40_000,
        "created_at": "",
    }
    payments = (await client.get("/api/v1/payments", headers=purchase.fan.headers)).json()["items"]
    assert [(p["id"], p["status"]) for p in payments] == [
        (purchase.payments[1]["id"], "PAID"),
        (payment["id"], "REFUNDED"),
    ]
    reservation = await client.get(f"/api/v1/reservations/{payment['reservation_id']}", headers=purchase.fan.headers)
    assert reservation.json()["status"] == "REFUNDED"

    # The seat is for sale again: another fan holds and buys it, and gets a ticket of their own.
    rival = await create_user(services, balance=30_000)
    token = await admitted_token(services, rival, purchase.concert_id)
    seats = msgspec.json.decode(await services.schedules.seats(rival.id, token, purchase.schedule.id))
    assert {s["id"]: s["available"] for s in seats}[seat.id] is True
    resold = await buy(services, fan=rival, concert_id=purchase.concert_id, schedule=purchase.schedule)
    assert resold.payments[0]["reservation_id"] != payment["reservation_id"]
    assert (await ticket_of(services, resold.payment_id))["seat_id"] == seat.id


async def test_refusals_of_a_refund(client: Client, services: Services) -> None:
    purchase = await buy(services)
    stranger = await create_user(services)
    path = refund_path(purchase.payment_id)
    assert_problem(await client.post(path), 401, "UNAUTHENTICATED")
    assert_problem(await client.post("/api/v1/payments/1.0/refund", headers=stranger.headers), 422, "VALIDATION_ERROR")
    assert_problem(await client.post(refund_path(999_999), headers=stranger.headers), 404, "PAYMENT_NOT_FOUND")
    assert_problem(await client.post(path, headers=stranger.headers), 403, "PAYMENT_USER_MISMATCH")
    before = await money_state(services, purchase)
    assert (await client.post(path, headers=purchase.fan.headers)).status_code == 200
    after = await money_state(services, purchase)
    assert_problem(await client.post(path, headers=purchase.fan.headers), 409, "PAYMENT_ALREADY_REFUNDED")
    assert await money_state(services, purchase) == after
    assert after["balance"] == before["balance"] + purchase.payments[0]["amount"]


async def test_no_refund_within_the_cut_off_before_the_show(client: Client, services: Services) -> None:
    cutoff = timedelta(hours=services.settings.refund_cutoff_hours)
    purchase = await buy(services, starts_in=cutoff - timedelta(minutes=5))
    before = await money_state(services, purchase)
    problem = assert_problem(
        await client.post(refund_path(purchase.payment_id), headers=purchase.fan.headers), 409, "REFUND_WINDOW_CLOSED"
    )
    assert datetime.fromisoformat(problem["refunds_closed_at"]) == purchase.schedule.starts_at - cutoff
    assert await money_state(services, purchase) == before  # nothing changed, the ticket still VALID
    assert before["payments"] == [("PAID", "CONFIRMED", "VALID")]

    # Just outside the cut-off a refund is still taken.
    early = await buy(services, starts_in=cutoff + timedelta(minutes=5))
    assert (await client.post(refund_path(early.payment_id), headers=early.fan.headers)).status_code == 200


async def test_a_used_ticket_is_not_refunded(client: Client, services: Services) -> None:
    purchase = await buy(services)
    await services.tickets.check_in((await ticket_of(services, purchase.payment_id))["code"])
    before = await money_state(services, purchase)
    problem = assert_problem(
        await client.post(refund_path(purchase.payment_id), headers=purchase.fan.headers), 409, "TICKET_ALREADY_USED"
    )
    assert "checked_in_at" in problem
    assert await money_state(services, purchase) == before
    assert before["payments"] == [("PAID", "CONFIRMED", "USED")]


async def test_a_refund_is_credited_past_the_balance_cap(services: Services) -> None:
    cap = services.settings.balance_cap
    purchase = await buy(services, price=10_000, balance=10_000)
    async with services.uow() as uow:  # the fan has since charged the wallet up to the cap
        await uow.conn.execute(
            "WITH w AS (UPDATE wallets SET balance = $2 WHERE id = $1 RETURNING id) "
            "INSERT INTO ledger_entries (wallet_id, kind, amount, balance_after) SELECT id, 'CHARGE', $2, $2 FROM w",
            purchase.fan.wallet_id,
            cap,
        )
        await uow.commit()
    reply = await services.payments.refund(purchase.fan.principal, purchase.payment_id, None)
    assert reply.status_code == 200
    assert (await money_state(services, purchase))["balance"] == cap + 10_000


async def test_the_same_idempotency_key_replays_the_refund(client: Client, services: Services) -> None:
    purchase = await buy(services, seats=2)
    headers = {**purchase.fan.headers, "Idempotency-Key": "refund-1"}
    first = await client.post(refund_path(purchase.payment_id), headers=headers)
    again = await client.post(refund_path(purchase.payment_id), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert (await money_state(services, purchase))["refund_rows"] == 1
    # The key named another request (another payment's refund): refused, nothing refunded.
    other = refund_path(purchase.payments[1]["id"])
    assert_problem(await client.post(other, headers=headers), 422, "IDEMPOTENCY_KEY_REUSED")
    assert (await money_state(services, purchase))["payments"][1] == ("PAID", "CONFIRMED", "VALID")


async def test_a_refused_refund_is_not_remembered_under_its_key(services: Services) -> None:
    purchase = await buy(services)
    await services.tickets.check_in((await ticket_of(services, purchase.payment_id))["code"])
    key = idempotent_request(purchase.fan.id, "k", "POST", refund_path(purchase.payment_id), b"")
    for _ in range(2):
        with pytest.raises(AppError) as refused:
            await services.payments.refund(purchase.fan.principal, purchase.payment_id, key)
        assert refused.value.code == "TICKET_ALREADY_USED"


async def test_the_money_invariants_hold_after_refunds_and_resales(services: Services) -> None:
    """The benchmark's audit (``make bench``, ``make chaos``) counts refunds: balances are their
    ledger sums, charges - payments + refunds = the balances, a refunded payment has its
    reservation, ticket and one REFUND row, every payment its ticket."""
    first = await buy(services, seats=3, price=20_000, balance=100_000)
    second = await buy(services, seats=1, concert_id=first.concert_id, schedule=first.schedule, balance=50_000)
    for payment in first.payments[:2]:
        await services.payments.refund(first.fan.principal, payment["id"], None)
    await services.tickets.check_in((await ticket_of(services, second.payment_id))["code"])
    # The refunded seats sold again, one of them to the fan who gave it back.
    await buy(services, seats=2, fan=first.fan, concert_id=first.concert_id, schedule=first.schedule)
    async with services.uow(autocommit=True) as uow:
        violations = await uow.repo(BenchRepository).invariant_violations()
        refunds = await uow.conn.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'REFUND'")
    assert refunds == 2
    assert violations == dict.fromkeys(violations, 0)
    assert len(violations) >= 13


async def test_the_audit_sees_a_refund_that_gave_no_money_back(services: Services) -> None:
    """The audit can fail: a payment marked REFUNDED behind the service's back is reported."""
    purchase = await buy(services)
    async with services.uow() as uow:
        await uow.conn.execute(
            "UPDATE payments SET status = 'REFUNDED', refunded_at = now() WHERE id = $1", purchase.payment_id
        )
        await uow.commit()
    async with services.uow(autocommit=True) as uow:
        violations = await uow.repo(BenchRepository).invariant_violations()
    broken = {name for name, count in violations.items() if count}
    assert broken == {
        "confirmed reservations without exactly one paid payment of their price",
        "refunded payments of a reservation that is not refunded",
        "refunded payments without exactly one REFUND ledger row of their amount",
        "tickets whose refund disagrees with their payment's",
        "won created or lost (charges - payments + refunds - balances)",
        "refund ledger rows that differ from refunded payments",
    }

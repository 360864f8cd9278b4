"""The refund limit (docs/security.md, "Bots and scalpers"): a fan refunds at most
TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE payments of one date; the next is 409
REFUND_LIMIT_REACHED and changes nothing. Over HTTP, one request at a time (the races are in
tests/concurrency/test_ticket_limit_races.py)."""

from __future__ import annotations

import pytest

from tests.support import Client, assert_problem
from tests.tickets.purchases import buy, money_state
from ticketing.config import Settings
from ticketing.container import Services


@pytest.fixture
def refunds(request: pytest.FixtureRequest) -> int:
    """TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE of a test (``indirect`` parametrisation; else the default)."""
    return int(getattr(request, "param", Settings.model_fields["max_refunds_per_fan_per_date"].default))


@pytest.fixture
def settings(settings: Settings, refunds: int) -> Settings:
    return settings.model_copy(update={"max_refunds_per_fan_per_date": refunds})


def refund_path(payment_id: int) -> str:
    return f"/api/v1/payments/{payment_id}/refund"


async def test_a_fan_refunds_at_most_the_limit_of_one_date(client: Client, services: Services, refunds: int) -> None:
    assert refunds == 2  # the default
    purchase = await buy(services, seats=4, price=10_000)
    headers = purchase.fan.headers
    payment_ids = [p["id"] for p in purchase.payments]
    for payment_id in payment_ids[:2]:
        assert (await client.post(refund_path(payment_id), headers=headers)).status_code == 200
    before = await money_state(services, purchase)

    problem = assert_problem(
        await client.post(refund_path(payment_ids[2]), headers=headers), 409, "REFUND_LIMIT_REACHED"
    )
    assert problem["max_refunds"] == 2
    assert await money_state(services, purchase) == before  # no credit, the seat still sold, the ticket valid
    assert before["payments"][2:] == [("PAID", "CONFIRMED", "VALID")] * 2

    # Another date of the same fan, and another fan of the same date, are counted apart.
    other_date = await buy(services, fan=purchase.fan, price=10_000, balance=10_000)
    assert (await client.post(refund_path(other_date.payment_id), headers=headers)).status_code == 200
    neighbour = await buy(services, concert_id=purchase.concert_id, schedule=purchase.schedule)
    assert (await client.post(refund_path(neighbour.payment_id), headers=neighbour.fan.headers)).status_code == 200


async def test_a_refused_refund_leaves_a_twice_refunded_answer_alone(client: Client, services: Services) -> None:
    """Refunding a refunded payment again still says so (409 PAYMENT_ALREADY_REFUNDED), limit or not."""
    purchase = await buy(services, seats=2)
    for payment in purchase.payments:
        assert (await client.post(refund_path(payment["id"]), headers=purchase.fan.headers)).status_code == 200
    again = await client.post(refund_path(purchase.payment_id), headers=purchase.fan.headers)
    assert_problem(again, 409, "PAYMENT_ALREADY_REFUNDED")


@pytest.mark.parametrize("refunds", [0], indirect=True)
async def test_zero_means_no_refunds(client: Client, services: Services) -> None:
    purchase = await buy(services)
    before = await money_state(services, purchase)
    answer = await client.post(refund_path(purchase.payment_id), headers=purchase.fan.headers)
    assert_problem(answer, 409, "REFUND_LIMIT_REACHED")
    assert await money_state(services, purchase) == before

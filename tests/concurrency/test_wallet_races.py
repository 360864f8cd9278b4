"""Races on real PostgreSQL: every request runs in its own transaction on its own connection."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_user
from tests.support import balance_of
from ticketing.container import Services
from ticketing.idempotency.service import idempotent_request


async def test_100_concurrent_charges_on_one_wallet(services: Services) -> None:
    user = await create_user(services)
    results = await asyncio.gather(
        *(services.wallets.charge(user.principal, user.wallet_id, 100 + i, None) for i in range(100))
    )
    assert all(r.status_code == 200 for r in results)
    expected = sum(100 + i for i in range(100))
    assert await balance_of(services, user.wallet_id) == (expected, 100)
    async with services.uow() as uow:
        rows = await uow.conn.fetch(
            "SELECT amount, balance_after FROM ledger_entries WHERE wallet_id = $1 ORDER BY id", user.wallet_id
        )
    running = 0
    for amount, balance_after in rows:  # every ledger row saw the balance left by the one before it
        running += amount
        assert balance_after == running
    # Each caller is told the balance its own charge left: exactly the ledger's, one each.
    answers = [msgspec.json.decode(r.body) for r in results]
    assert sorted(a["balance"] for a in answers) == [balance_after for _, balance_after in rows]
    # Concurrent charges of one wallet were batched (one row lock and one commit per batch).
    assert len({a["updated_at"] for a in answers}) < len(answers)


async def test_a_batch_that_would_pass_the_cap_is_judged_charge_by_charge(services: Services) -> None:
    cap = services.settings.balance_cap
    user = await create_user(services, balance=cap - 1000)
    amounts = [600, 300, 500, 100, 200]  # alone, in this order: 600 and 300 fit, 500 not, 100 fits, 200 not
    outcomes = await asyncio.gather(
        *(services.wallets.charge(user.principal, user.wallet_id, a, None) for a in amounts),
        return_exceptions=True,
    )
    codes = [getattr(o, "code", "OK") for o in outcomes]
    assert codes == ["OK", "OK", "BALANCE_LIMIT_EXCEEDED", "OK", "BALANCE_LIMIT_EXCEEDED"]
    assert await balance_of(services, user.wallet_id) == (cap, 4)


async def test_50_concurrent_requests_with_one_idempotency_key_charge_once(services: Services) -> None:
    user = await create_user(services)
    key = idempotent_request(user.id, "once", "POST", f"/api/v1/wallets/{user.wallet_id}/charges", b'{"amount":777}')
    outcomes = await asyncio.gather(
        *(services.wallets.charge(user.principal, user.wallet_id, 777, key) for _ in range(50)),
        return_exceptions=True,
    )
    replies = [o for o in outcomes if not isinstance(o, BaseException)]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    # Every request either replays the one stored response or is told the key is in use.
    assert all(getattr(e, "code", None) == "IDEMPOTENCY_KEY_IN_USE" for e in errors), errors
    assert len(replies) >= 1
    assert len({r.body for r in replies}) == 1
    assert await balance_of(services, user.wallet_id) == (777, 1)


async def test_concurrent_http_charges_with_one_key(client: AsyncTestClient[Litestar], services: Services) -> None:
    user = await create_user(services)
    headers = {**user.headers, "Idempotency-Key": "http-once"}
    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/wallets/{user.wallet_id}/charges", json={"amount": 50}, headers=headers)
            for _ in range(20)
        )
    )
    assert {r.status_code for r in responses} <= {200, 409}
    assert all(r.json()["balance"] == 50 for r in responses if r.status_code == 200)
    assert await balance_of(services, user.wallet_id) == (50, 1)


async def test_concurrent_charges_across_the_cap_never_overflow(services: Services) -> None:
    cap = services.settings.balance_cap
    user = await create_user(services, balance=cap - 1000)
    outcomes = await asyncio.gather(
        *(services.wallets.charge(user.principal, user.wallet_id, 300, None) for _ in range(10)),
        return_exceptions=True,
    )
    succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(succeeded) == 3
    assert all(getattr(e, "code", None) == "BALANCE_LIMIT_EXCEEDED" for e in refused)
    assert await balance_of(services, user.wallet_id) == (cap - 100, 4)

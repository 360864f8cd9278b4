"""Balance and charges over HTTP: every error case changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_user
from tests.support import assert_problem, balance_of
from ticketing.container import Services

Client = AsyncTestClient[Litestar]


async def test_get_and_charge_own_wallet(client: Client, services: Services) -> None:
    user = await create_user(services)
    wallet = await client.get(f"/api/v1/wallets/{user.wallet_id}", headers=user.headers)
    assert wallet.status_code == 200
    assert wallet.json()["balance"] == 0
    assert wallet.json()["user_id"] == user.id

    charged = await client.post(
        f"/api/v1/wallets/{user.wallet_id}/charges", json={"amount": 5000}, headers=user.headers
    )
    assert charged.status_code == 200, charged.text
    body = charged.json()
    assert body["balance"] == 5000
    assert body["wallet_id"] == user.wallet_id
    assert body["updated_at"].endswith(("Z", "+00:00"))
    assert await balance_of(services, user.wallet_id) == (5000, 1)


@pytest.mark.parametrize("amount", [0, -1, -5000, 1.5, "100", True, None, 10**20, 1_000_001, [], {}])
async def test_invalid_amounts_change_nothing(client: Client, services: Services, amount: Any) -> None:
    user = await create_user(services, balance=700)
    response = await client.post(
        f"/api/v1/wallets/{user.wallet_id}/charges", json={"amount": amount}, headers=user.headers
    )
    assert_problem(response, 422, "INVALID_AMOUNT")
    assert await balance_of(services, user.wallet_id) == (700, 1)


async def test_malformed_charge_bodies(client: Client, services: Services) -> None:
    user = await create_user(services)
    url = f"/api/v1/wallets/{user.wallet_id}/charges"
    assert_problem(await client.post(url, json={}, headers=user.headers), 422, "VALIDATION_ERROR")
    assert_problem(await client.post(url, json={"amount": 1, "x": 2}, headers=user.headers), 422, "VALIDATION_ERROR")
    json_headers = {**user.headers, "content-type": "application/json"}
    assert_problem(await client.post(url, content=b"[1,", headers=json_headers), 422, "VALIDATION_ERROR")
    assert_problem(await client.post(url, json=[1], headers=user.headers), 422, "VALIDATION_ERROR")
    assert await balance_of(services, user.wallet_id) == (0, 0)


async def test_balance_cap(client: Client, services: Services) -> None:
    user = await create_user(services, balance=services.settings.balance_cap - 10)
    url = f"/api/v1/wallets/{user.wallet_id}/charges"
    assert_problem(await client.post(url, json={"amount": 11}, headers=user.headers), 409, "BALANCE_LIMIT_EXCEEDED")
    ok = await client.post(url, json={"amount": 10}, headers=user.headers)
    assert ok.json()["balance"] == services.settings.balance_cap


async def test_unknown_and_malformed_wallet_ids(client: Client, services: Services) -> None:
    user = await create_user(services)
    assert_problem(await client.get("/api/v1/wallets/999999", headers=user.headers), 404, "WALLET_NOT_FOUND")
    assert_problem(
        await client.post("/api/v1/wallets/999999/charges", json={"amount": 1}, headers=user.headers),
        404,
        "WALLET_NOT_FOUND",
    )
    for bad in ("abc", "0", "-1", "1.5", str(2**70)):
        assert_problem(await client.get(f"/api/v1/wallets/{bad}", headers=user.headers), 422, "VALIDATION_ERROR")


async def test_cross_user_matrix_is_forbidden_and_changes_nothing(client: Client, services: Services) -> None:
    owner = await create_user(services, balance=1000)
    other = await create_user(services, balance=50)
    base = f"/api/v1/wallets/{owner.wallet_id}"
    assert_problem(await client.get(base, headers=other.headers), 403, "WALLET_USER_MISMATCH")
    assert_problem(
        await client.post(f"{base}/charges", json={"amount": 10}, headers=other.headers), 403, "WALLET_USER_MISMATCH"
    )
    assert_problem(await client.get(f"{base}/ledger", headers=other.headers), 403, "WALLET_USER_MISMATCH")
    assert await balance_of(services, owner.wallet_id) == (1000, 1)
    assert await balance_of(services, other.wallet_id) == (50, 1)


async def test_token_of_a_deleted_user(client: Client, services: Services) -> None:
    owner = await create_user(services)
    ghost = await create_user(services)
    async with services.uow() as uow:
        await uow.conn.execute("DELETE FROM users WHERE id = $1", ghost.id)
        await uow.commit()
    # Every personal read checks the account, as writes do: the token of an account that
    # no longer exists is no credential (401), whatever it asks for.
    assert_problem(
        await client.get(f"/api/v1/wallets/{owner.wallet_id}", headers=ghost.headers), 401, "UNAUTHENTICATED"
    )
    assert_problem(await client.get("/api/v1/users/me", headers=ghost.headers), 401, "UNAUTHENTICATED")


async def test_wallet_endpoints_need_a_bearer_before_validation(client: Client, services: Services) -> None:
    user = await create_user(services)
    url = f"/api/v1/wallets/{user.wallet_id}/charges"
    assert_problem(await client.post(url, json={"amount": -1}), 401, "UNAUTHENTICATED")
    assert_problem(await client.get(f"/api/v1/wallets/{user.wallet_id}"), 401, "UNAUTHENTICATED")


async def test_ledger_is_paginated_newest_first(client: Client, services: Services) -> None:
    user = await create_user(services)
    url = f"/api/v1/wallets/{user.wallet_id}"
    for amount in range(1, 8):
        assert (await client.post(f"{url}/charges", json={"amount": amount}, headers=user.headers)).status_code == 200
    first = (await client.get(f"{url}/ledger?limit=3", headers=user.headers)).json()
    assert [e["amount"] for e in first["items"]] == [7, 6, 5]
    assert [e["balance_after"] for e in first["items"]] == [28, 21, 15]
    assert all(e["kind"] == "CHARGE" for e in first["items"])
    second = (await client.get(f"{url}/ledger?limit=3&cursor={first['next_cursor']}", headers=user.headers)).json()
    assert [e["amount"] for e in second["items"]] == [4, 3, 2]
    last = (await client.get(f"{url}/ledger?limit=3&cursor={second['next_cursor']}", headers=user.headers)).json()
    assert [e["amount"] for e in last["items"]] == [1]
    assert last["next_cursor"] is None
    for bad in ("limit=0", "limit=201", "limit=x", "cursor=abc", "cursor=-3"):
        assert_problem(await client.get(f"{url}/ledger?{bad}", headers=user.headers), 422, "VALIDATION_ERROR")


async def test_idempotent_charge_replays_the_same_response(client: Client, services: Services) -> None:
    user = await create_user(services)
    url = f"/api/v1/wallets/{user.wallet_id}/charges"
    headers = {**user.headers, "Idempotency-Key": "charge-1"}
    first = await client.post(url, json={"amount": 300}, headers=headers)
    second = await client.post(
        url, content=b'{ "amount" : 300 }', headers={**headers, "content-type": "application/json"}
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await balance_of(services, user.wallet_id) == (300, 1)

    reused = await client.post(url, json={"amount": 301}, headers=headers)
    assert_problem(reused, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await balance_of(services, user.wallet_id) == (300, 1)


async def test_idempotency_keys_are_scoped_per_user(client: Client, services: Services) -> None:
    alice = await create_user(services)
    bob = await create_user(services)
    key = {"Idempotency-Key": "same-key"}
    a = await client.post(
        f"/api/v1/wallets/{alice.wallet_id}/charges", json={"amount": 10}, headers={**alice.headers, **key}
    )
    b = await client.post(
        f"/api/v1/wallets/{bob.wallet_id}/charges", json={"amount": 10}, headers={**bob.headers, **key}
    )
    assert a.json()["wallet_id"] == alice.wallet_id
    assert b.json()["wallet_id"] == bob.wallet_id
    assert await balance_of(services, alice.wallet_id) == (10, 1)
    assert await balance_of(services, bob.wallet_id) == (10, 1)


async def test_failed_charge_does_not_burn_the_key(client: Client, services: Services) -> None:
    user = await create_user(services, balance=services.settings.balance_cap)
    url = f"/api/v1/wallets/{user.wallet_id}/charges"
    headers = {**user.headers, "Idempotency-Key": "k"}
    assert_problem(await client.post(url, json={"amount": 5}, headers=headers), 409, "BALANCE_LIMIT_EXCEEDED")
    # The failed attempt rolled back with its key: the same request is evaluated afresh.
    assert_problem(await client.post(url, json={"amount": 5}, headers=headers), 409, "BALANCE_LIMIT_EXCEEDED")
    assert_problem(
        await client.post(url, json={"amount": 5}, headers={**user.headers, "Idempotency-Key": ""}),
        422,
        "VALIDATION_ERROR",
    )

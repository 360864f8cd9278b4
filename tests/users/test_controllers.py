from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support import assert_problem

Client = AsyncTestClient[Litestar]


async def test_sign_up_sign_in_and_me(client: Client) -> None:
    created = await client.post("/api/v1/users", json={"name": "fan.one", "password": "s3cret-pass"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["name"] == "fan.one" and user["id"] > 0 and user["wallet_id"] > 0

    token = await client.post("/api/v1/auth/token", json={"name": "fan.one", "password": "s3cret-pass"})
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0

    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == user

    wallet = await client.get(
        f"/api/v1/wallets/{user['wallet_id']}", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert wallet.json()["balance"] == 0


async def test_name_taken_regardless_of_case(client: Client) -> None:
    assert (await client.post("/api/v1/users", json={"name": "Alice", "password": "password1"})).status_code == 201
    again = await client.post("/api/v1/users", json={"name": "alice", "password": "password2"})
    assert_problem(again, 409, "USER_NAME_TAKEN")


async def test_wrong_password_and_unknown_name_look_alike(client: Client) -> None:
    await client.post("/api/v1/users", json={"name": "bob", "password": "password1"})
    wrong = assert_problem(
        await client.post("/api/v1/auth/token", json={"name": "bob", "password": "nope-nope"}), 401, "UNAUTHENTICATED"
    )
    unknown = assert_problem(
        await client.post("/api/v1/auth/token", json={"name": "nobody", "password": "nope-nope"}),
        401,
        "UNAUTHENTICATED",
    )
    assert wrong["detail"] == unknown["detail"]


async def test_sign_up_validation(client: Client) -> None:
    for body in (
        {"name": "ab", "password": "password1"},
        {"name": "has space", "password": "password1"},
        {"name": "x" * 33, "password": "password1"},
        {"name": "valid", "password": "short"},
        {"name": "valid", "password": "p" * 129},
        {"name": "valid"},
        {"name": "valid", "password": "password1", "role": "admin"},
        {"name": 123, "password": "password1"},
    ):
        assert_problem(await client.post("/api/v1/users", json=body), 422, "VALIDATION_ERROR")
    not_json = await client.post("/api/v1/users", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(not_json, 422, "VALIDATION_ERROR")


async def test_me_requires_a_valid_bearer(client: Client) -> None:
    assert_problem(await client.get("/api/v1/users/me"), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.get("/api/v1/users/me", headers={"Authorization": "Bearer not-a-jwt"}), 401, "UNAUTHENTICATED"
    )
    assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": "Basic abc"}), 401, "UNAUTHENTICATED")


async def test_unknown_route_and_method_are_problems(client: Client) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_problem(await client.delete("/api/v1/users"), 405, "METHOD_NOT_ALLOWED")


async def test_body_over_the_limit_is_413(client: Client) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'", "password": "password1"}'
    assert_problem(await client.post("/api/v1/users", content=big), 413, "PAYLOAD_TOO_LARGE")


async def test_operations_endpoints(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["postgres"] and ready.json()["redis"]
    await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "ticketing" in metrics.text
    assert (await client.get("/openapi.json")).json()["info"]["title"]
    assert (await client.get("/docs")).status_code == 200


async def test_request_id_is_echoed(client: Client) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32

"""The OpenAPI document describes what the service does, and the fixes that came with it:
canonical integers in paths and query strings, ``OPTIONS`` listing every method of a path, and a
visible-ASCII Idempotency-Key. The live check
of the whole document is schemathesis' (``tests/contract``, ``make test-api``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_user
from tests.support import assert_problem, raw_headers
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.edge.openapi import openapi_document
from ticketing.kernel.ids import MAX_ID, canonical_positive_int
from ticketing.main import create_app

Client = AsyncTestClient[Litestar]

ARABIC_INDIC_ONE = "\u0661"
NON_CANONICAL = ["1.0", "1e0", "01", "+1", " 1", "1 ", "0", "-1", ARABIC_INDIC_ONE, str(MAX_ID + 1), "1\n"]


def test_canonical_positive_integers() -> None:
    assert [canonical_positive_int(t) for t in ["1", "42", str(MAX_ID)]] == [1, 42, MAX_ID]
    assert [canonical_positive_int(t) for t in NON_CANONICAL] == [None] * len(NON_CANONICAL)


async def test_an_id_in_a_path_that_is_not_canonical_is_422(client: Client, services: Services) -> None:
    user = await create_user(services)
    concert_id = await create_concert(services)
    for text in map(partial(quote, safe=""), NON_CANONICAL):
        for path in [f"/api/v1/concerts/{text}", f"/api/v1/wallets/{text}", f"/api/v1/reservations/{text}"]:
            body = assert_problem(await client.get(path, headers=user.headers), 422, "VALIDATION_ERROR")
            assert body["errors"][0]["field"] in {"concert_id", "wallet_id", "reservation_id"}  # "1.0" read as 1
    assert (await client.get(f"/api/v1/concerts/{concert_id}")).status_code == 200
    assert (await client.get(f"/api/v1/wallets/{user.wallet_id}", headers=user.headers)).status_code == 200


async def test_a_limit_that_is_not_canonical_is_422(client: Client, services: Services) -> None:
    user = await create_user(services, balance=10)
    ledger = f"/api/v1/wallets/{user.wallet_id}/ledger"
    for limit in ["1.0", "01", "+5", "5e0", "0", "201"]:
        for path in [ledger, "/api/v1/payments", "/api/v1/reservations"]:
            response = await client.get(path, params={"limit": limit}, headers=user.headers)
            assert_problem(response, 422, "VALIDATION_ERROR")
    page = await client.get(ledger, params={"limit": "200"}, headers=user.headers)
    assert page.status_code == 200 and len(page.json()["items"]) == 1


async def test_a_cursor_that_is_not_canonical_is_422(client: Client, services: Services) -> None:
    user = await create_user(services, balance=10)
    for cursor in ["01", "0", str(MAX_ID + 1)]:
        response = await client.get("/api/v1/payments", params={"cursor": cursor}, headers=user.headers)
        assert_problem(response, 422, "VALIDATION_ERROR")
    assert (await client.get("/api/v1/payments", params={"cursor": ""}, headers=user.headers)).status_code == 200


async def test_options_lists_every_method_of_the_path_without_a_token(client: Client) -> None:
    expected = {
        "/api/v1/auth/token": "DELETE, OPTIONS, POST",  # was "OPTIONS, POST"
        "/api/v1/reservations/1": "DELETE, GET, HEAD, OPTIONS",  # was 401 without a bearer token
        "/api/v1/reservations": "GET, HEAD, OPTIONS, POST",
        "/api/v1/admin/concerts": "OPTIONS, POST",  # was a 401 (an operator check)
        "/api/v1/wallets/7/charges": "OPTIONS, POST",
        "/api/v1/concerts": "GET, HEAD, OPTIONS",  # HEAD answers every GET
    }
    for path, allow in expected.items():
        response = await client.options(path)
        assert (response.status_code, response.headers.get("allow")) == (204, allow), path


async def test_an_undeclared_method_is_405_with_the_methods_of_the_path(client: Client) -> None:
    response = await client.put("/api/v1/auth/token")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "OPTIONS", "POST"}


BAD_KEYS: list[bytes] = [b"a b", "café".encode("latin-1"), b"", b"k" * 256, b"tab\tkey", b"\x7fdel"]


async def test_an_idempotency_key_that_is_not_visible_ascii_is_422(client: Client, services: Services) -> None:
    user = await create_user(services)
    charges = f"/api/v1/wallets/{user.wallet_id}/charges"
    for key in BAD_KEYS:
        response = await client.post(
            charges, json={"amount": 5}, headers=raw_headers({**user.headers, "Idempotency-Key": key})
        )
        body = assert_problem(response, 422, "VALIDATION_ERROR")
        assert body["errors"][0]["field"] == "idempotency_key", key
    wallet = await client.get(f"/api/v1/wallets/{user.wallet_id}", headers=user.headers)
    assert wallet.json()["balance"] == 0  # nothing was charged
    good_key = "Order-17:retry.1_~!{}"  # visible ASCII of every kind
    for _ in range(2):  # the same key twice: one charge
        charged = await client.post(charges, json={"amount": 5}, headers={**user.headers, "Idempotency-Key": good_key})
        assert charged.status_code == 200 and charged.json()["balance"] == 5


# --- The document ---------------------------------------------------------------------------


@pytest.fixture
def document(app: Litestar) -> dict[str, Any]:
    return openapi_document(app)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_every_error_is_a_documented_problem_and_never_litestars_400(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        assert "400" not in responses, (method, path)  # every validation failure is a 422 problem
        for status, response in responses.items():
            if status >= "400":
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                assert re.fullmatch(r"[A-Z_]+( / [A-Z_]+)*", response["description"]), (method, path, status)
        if path.startswith("/api/"):
            assert "503" in responses, (method, path)
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, (method, path)
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), (method, path)
        if operation.get("security"):
            assert "401" in responses, (method, path)


def test_what_each_kind_of_check_answers_is_listed(document: dict[str, Any]) -> None:
    paths = document["paths"]
    dashboard = paths["/api/v1/admin/concerts/{concert_id}/dashboard"]["get"]["responses"]
    assert "FORBIDDEN" in dashboard["403"]["description"] and "UNAUTHENTICATED" in dashboard["401"]["description"]
    seats = paths["/api/v1/schedules/{schedule_id}/seats"]["get"]["responses"]
    assert set(seats["403"]["description"].split(" / ")) == {"TOKEN_INVALID", "TOKEN_NOT_ADMITTED"}
    assert set(seats["401"]["description"].split(" / ")) == {"TOKEN_INVALID", "UNAUTHENTICATED"}
    for path in ["/api/v1/users", "/api/v1/auth/token", "/api/v1/reservations"]:
        limited = paths[path]["post"]["responses"]["429"]
        assert limited["description"] == "RATE_LIMITED" and limited["headers"]["Retry-After"]["required"] is True
    issue = paths["/api/v1/concerts/{concert_id}/queue/tokens"]["post"]["responses"]
    assert {"200", "201", "429"} <= set(issue)  # 200: the live token you already have
    for status in ("200", "201"):
        assert issue[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/QueueTokenOut"}


def test_ids_and_limits_carry_their_real_bounds(document: dict[str, Any]) -> None:
    seen = set()
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if parameter["in"] == "path":
                assert schema["type"] == "integer" and (schema["minimum"], schema["maximum"]) == (1, MAX_ID), path
                assert isinstance(schema["maximum"], int)  # not 9.223372036854776e+18, which is 2^63
                seen.add("path")
            if parameter["name"] == "limit":
                assert (schema["type"], schema["minimum"], schema["maximum"], schema["default"]) == (
                    "integer",
                    1,
                    200,
                    50,
                )
                seen.add("limit")
            if parameter["name"] == "cursor":
                assert (schema["type"], schema["pattern"], schema["maxLength"]) == ("string", "^([1-9][0-9]*)?$", 19)
            if parameter["name"] == "Idempotency-Key":
                assert (schema["type"], schema["pattern"]) == ("string", "^[!-~]{1,255}$"), (method, path)
                seen.add("key")
            assert parameter["name"] != "X-Queue-Token", "the queue token is a security scheme"
    assert seen == {"path", "limit", "key"}
    for node in walk(document["components"]["schemas"]):
        if node.get("type") == "integer":
            assert all(isinstance(node[k], int) for k in ("minimum", "maximum") if k in node), node


def test_bodies_that_refuse_unknown_fields_say_so(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    bodies = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for _, _, operation in operations(document)
        if "requestBody" in operation
    }
    assert {
        "SignUp",
        "SignIn",
        "PasswordChange",
        "ChargeIn",
        "ConcertIn",
        "ScheduleIn",
        "HoldIn",
        "PaymentIn",
    } <= bodies
    for name in bodies:
        assert schemas[name]["additionalProperties"] is False, name
    seat_id = schemas["HoldIn"]["properties"]["seat_id"]
    assert {"type": "integer", "minimum": 1, "maximum": MAX_ID} in [seat_id, *seat_id.get("anyOf", [])]
    starts_at = schemas["ScheduleIn"]["properties"]["starts_at"]
    assert (starts_at["format"], starts_at["pattern"]) == ("date-time", "^20[0-9]{2}-")
    assert schemas["ReservationOut"]["properties"]["held_until"] == {"type": "string", "format": "date-time"}


async def test_an_exactly_one_of_body_is_described_as_the_service_reads_it(
    client: Client, services: Services, document: dict[str, Any]
) -> None:
    """The document's HoldIn (``exactly_one_of``) admits exactly the bodies the service takes, as
    a JSON Schema validator reads it (schemathesis' own, jsonschema-rs)."""
    import jsonschema_rs

    user = await create_user(services)
    validator = jsonschema_rs.Draft202012Validator(document["components"]["schemas"]["HoldIn"])
    bodies = [{"seat_id": 1}, {"seat_ids": [1]}, {"seat_id": 1, "seat_ids": None}, {}, {"seat_id": None}]
    bodies += [{"seat_id": 1, "seat_ids": [1]}, {"seat_id": None, "seat_ids": None}]
    for body in bodies:
        response = await client.post("/api/v1/reservations", json=body, headers=user.headers)
        refused_as_invalid = response.status_code == 422
        assert validator.is_valid(body) is not refused_as_invalid, (body, response.text)


def test_patterns_are_ecma_262_and_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for node in walk(document):
        if isinstance(node.get("pattern"), str):
            assert "\\Z" not in node["pattern"] and "\\A" not in node["pattern"], node
        if isinstance(node.get("$ref"), str):
            assert node["$ref"].removeprefix("#/components/schemas/") in schemas, node["$ref"]
    assert schemas["SignUp"]["properties"]["name"]["pattern"] == "^[A-Za-z0-9_.\\-]{3,32}$"


def test_security_schemes_and_who_needs_what(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["queueToken"] == {**schemes["queueToken"], "type": "apiKey", "in": "header", "name": "X-Queue-Token"}
    security = {(method, path): operation.get("security") for path, method, operation in operations(document)}
    both: list[dict[str, list[str]]] = [{"bearerAuth": [], "queueToken": []}]
    assert security["POST", "/api/v1/reservations"] == both
    assert security["POST", "/api/v1/payments"] == both
    assert security["GET", "/api/v1/concerts/{concert_id}/schedules"] == both
    assert security["GET", "/api/v1/queue/tokens/me"] == [{"queueToken": []}]
    assert security["GET", "/api/v1/wallets/{wallet_id}"] == [{"bearerAuth": []}]
    assert security["POST", "/api/v1/admin/concerts"] == [{"bearerAuth": []}]
    assert security["GET", "/api/v1/concerts"] is None and security["POST", "/api/v1/auth/token"] is None


def test_a_hold_links_to_its_payment(document: dict[str, Any]) -> None:
    ids = {(method, path): operation["operationId"] for path, method, operation in operations(document)}
    links = document["paths"]["/api/v1/reservations"]["post"]["responses"]["201"]["links"]
    assert links["PayForTheHold"] == {
        "operationId": ids["POST", "/api/v1/payments"],
        "requestBody": {"reservation_id": "$response.body#/id", "reservation_ids": None},
        "description": "Pay for the seat just held",
    }
    assert links["ReleaseTheHold"]["operationId"] == ids["DELETE", "/api/v1/reservations/{reservation_id}"]
    assert links["ReadTheHold"]["parameters"] == {"reservation_id": "$response.body#/id"}


def test_a_date_links_to_its_seat_map_and_the_seat_map_to_a_zone(document: dict[str, Any]) -> None:
    ids = {(method, path): operation["operationId"] for path, method, operation in operations(document)}
    created = document["paths"]["/api/v1/admin/concerts/{concert_id}/schedules"]["post"]["responses"]["201"]["links"]
    assert created["SeatMapOfTheDate"]["operationId"] == ids["GET", "/api/v1/schedules/{schedule_id}/seat-map"]
    assert created["SeatMapOfTheDate"]["parameters"] == {"schedule_id": "$response.body#/id"}
    seat_map = document["paths"]["/api/v1/schedules/{schedule_id}/seat-map"]["get"]["responses"]["200"]["links"]
    zone = seat_map["SeatsOfAZone"]
    assert zone["operationId"] == ids["GET", "/api/v1/schedules/{schedule_id}/zones/{zone_id}/seats"]
    assert zone["parameters"] == {"schedule_id": "$response.body#/schedule_id", "zone_id": "$response.body#/zones/0/id"}


def test_a_bound_that_is_a_setting_comes_from_the_settings(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_charge": 250_000}))
    amount = openapi_document(app)["components"]["schemas"]["ChargeIn"]["properties"]["amount"]
    assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 1, 250_000)


async def test_both_document_urls_serve_the_completed_document(client: Client, app: Litestar) -> None:
    served = await client.get("/openapi.json")
    for_the_docs = await client.get("/docs/openapi.json")
    assert served.status_code == for_the_docs.status_code == 200
    assert served.json() == for_the_docs.json() == openapi_document(app)

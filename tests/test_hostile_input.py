"""Hostile input: whatever bytes a client sends end in a 4xx problem or a success,
never a 500, and a refused request changes nothing."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import ValidationError as SettingsError

from tests.factories import admitted_token, create_concert, create_schedule, create_user
from tests.support import assert_problem, raw_headers
from ticketing import cli
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.edge.openapi import openapi_document
from ticketing.kernel.errors import ValidationError
from ticketing.users.repository import UserRepository

Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # These tests send many refused requests from one address: the abuse limits are tested elsewhere.
    return settings.model_copy(update={"rate_limits_enabled": False})


async def counts(services: Services) -> dict[str, int]:
    async with services.uow() as uow:
        row = await uow.conn.fetchrow(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM concerts), "
            "(SELECT coalesce(sum(balance), 0) FROM wallets), (SELECT count(*) FROM ledger_entries)"
        )
    assert row is not None
    return dict(zip(("users", "concerts", "balance", "ledger"), map(int, row), strict=True))


CONTROL_CHARACTERS = ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085", "\n", "\r", "\t"]


async def test_control_characters_in_names_and_passwords_are_422(client: Client, services: Services) -> None:
    before = await counts(services)
    for char in CONTROL_CHARACTERS:
        for path, body in [
            ("/api/v1/users", {"name": f"fan{char}x", "password": "password-1"}),
            ("/api/v1/users", {"name": "fan.x", "password": f"pass{char}word-1"}),
            ("/api/v1/auth/token", {"name": f"fan{char}x", "password": "password-1"}),  # a NUL was a 500
            ("/api/v1/auth/token", {"name": "fan.x", "password": f"pass{char}word-1"}),
        ]:
            assert_problem(await client.post(path, json=body), 422, "VALIDATION_ERROR")
    assert await counts(services) == before


async def test_control_characters_in_concert_texts_are_422(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    before = await counts(services)
    for char in CONTROL_CHARACTERS:
        bodies: list[dict[str, Any]] = [{"title": f"Gala{char}"}, {"title": "Gala", "venue": f"Hall{char}"}]
        if char not in "\n\r\t":  # a description keeps its line breaks and tabs
            bodies.append({"title": "Gala", "description": f"Two{char}sets"})
        for body in bodies:
            response = await client.post("/api/v1/admin/concerts", json=body, headers=admin.headers)
            assert_problem(response, 422, "VALIDATION_ERROR")  # a NUL in a title was a 500
    assert await counts(services) == before


async def test_a_description_keeps_its_line_breaks(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    body = {"title": "Gala — 겨울", "venue": "Hall", "description": "Part one\r\n\tPart two"}
    created = await client.post("/api/v1/admin/concerts", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == body["description"]


async def test_a_name_with_a_trailing_newline_is_422(client: Client, services: Services) -> None:
    before = await counts(services)
    for name in ["alice\n", "alice\r\n", "\nalice"]:
        assert_problem(
            await client.post("/api/v1/users", json={"name": name, "password": "password-1"}), 422, "VALIDATION_ERROR"
        )
    assert await counts(services) == before
    assert (await client.post("/api/v1/users", json={"name": "alice", "password": "password-1"})).status_code == 201


async def test_a_nul_refused_by_postgresql_is_a_validation_error(services: Services) -> None:
    """The backstop: should a field escape the schemas, the database's refusal is a 422."""
    async with services.uow() as uow:
        with pytest.raises(ValidationError):
            await uow.repo(UserRepository).by_name("a\u0000b")
    async with services.uow() as uow:
        with pytest.raises(ValidationError):
            await uow.repo(UserRepository).by_id(2**64)  # asyncpg cannot encode it as bigint


NON_ASCII_NUMBERS = ["1\u00b2", "\u00b2", "\u0663", "\u0661\u0662", "\uff11", "1 ", "+1", "-1", "0", "1.0", str(2**63)]


async def test_a_cursor_that_is_not_ascii_digits_within_bigint_is_422(client: Client, services: Services) -> None:
    user = await create_user(services, balance=1000)
    for cursor in [*NON_ASCII_NUMBERS, "9" * 32]:
        for path in [f"/api/v1/wallets/{user.wallet_id}/ledger", "/api/v1/payments"]:
            response = await client.get(path, params={"cursor": cursor}, headers=user.headers)
            assert_problem(response, 422, "VALIDATION_ERROR")  # "1²" was a 500, "٣" read as 3
    ok = await client.get(
        f"/api/v1/wallets/{user.wallet_id}/ledger", params={"cursor": str(2**63 - 1)}, headers=user.headers
    )
    assert ok.status_code == 200 and len(ok.json()["items"]) == 1


async def test_an_id_in_a_path_beyond_bigint_or_not_ascii_is_422(client: Client, services: Services) -> None:
    user = await create_user(services)
    # "1.0" too: Litestar's lenient conversion read it as 1 (tests/test_openapi_document.py).
    for id_ in [*NON_ASCII_NUMBERS, str(2**64)]:
        for path in [f"/api/v1/wallets/{id_}", f"/api/v1/reservations/{id_}"]:
            assert_problem(await client.get(path, headers=user.headers), 422, "VALIDATION_ERROR")


async def test_a_queue_token_with_non_ascii_digits_is_401(client: Client, services: Services) -> None:
    user = await create_user(services)
    concert_id = await create_concert(services)
    real = await admitted_token(services, user, concert_id)
    codec = services.waiting_room.codec
    version, concert, epoch, seq, user_id, issued, name, _ = real.split(".", 7)
    forged = [
        codec.encode(concert_id, epoch, 1, user.id, int(issued), name).replace(f".{user.id}.", f".{user.id}\u00b2.", 1),
        f"{version}.{concert}.{epoch}.{seq}\u00b2.{user_id}.{issued}.{name}.{'A' * 22}",
        f"{version}.{concert}.{epoch}.{2**64}.{user_id}.{issued}.{name}.{'A' * 22}",
    ]
    for token in forged:
        # latin-1 bytes: the server reads header values as latin-1, so "\xb2" arrives as "²"
        headers = {"X-Queue-Token": token.encode("latin-1", errors="replace")}
        assert_problem(await client.get("/api/v1/queue/tokens/me", headers=raw_headers(headers)), 401, "TOKEN_INVALID")
        response = await client.get(
            f"/api/v1/concerts/{concert_id}/schedules", headers=raw_headers({**user.headers, **headers})
        )
        assert_problem(response, 401, "TOKEN_INVALID")


async def test_a_jwt_whose_subject_is_not_an_id_is_401(client: Client, services: Services, settings: Settings) -> None:
    await create_user(services, name="user.three")  # id 3, what int("٣") read
    for sub in [str(2**63), str(2**64), "\u0663", "1\u00b2", "-5", "0", "", " 1", 7, None]:
        claims = {"sub": sub, "name": "x", "role": "fan", "exp": 2**40}
        token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
        response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "UNAUTHENTICATED")  # beyond 2^63 was a 500


async def test_invalid_utf8_in_a_json_body_is_422(client: Client, services: Services) -> None:
    user = await create_user(services)
    before = await counts(services)
    for path, body, headers in [
        ("/api/v1/users", b'{"name":"abc\xff","password":"password-1"}', JSON),
        ("/api/v1/auth/token", b'{"name":"\xff\xfe","password":"x"}', JSON),
        ("/api/v1/auth/token", b'{"name":"\xed\xa0\x80abc","password":"x"}', JSON),  # a lone surrogate
        (f"/api/v1/wallets/{user.wallet_id}/charges", b'{"amount":1,"x":"\xc3"}', {**JSON, **user.headers}),
    ]:
        assert_problem(await client.post(path, content=body, headers=headers), 422, "VALIDATION_ERROR")
    assert await counts(services) == before


async def test_duplicate_keys_in_a_body_are_422(client: Client, services: Services) -> None:
    user = await create_user(services)
    charges = f"/api/v1/wallets/{user.wallet_id}/charges"
    headers = {**JSON, **user.headers}
    before = await counts(services)
    body = assert_problem(
        await client.post(charges, content=b'{"amount":1,"amount":5}', headers=headers), 422, "VALIDATION_ERROR"
    )
    assert body["errors"] == [{"field": "amount", "message": "appears more than once in an object"}]
    sign_up = b'{"name":"dupe.fan","password":"password-1","name":"other.fan"}'
    assert_problem(await client.post("/api/v1/users", content=sign_up, headers=JSON), 422, "VALIDATION_ERROR")
    assert await counts(services) == before
    charged = await client.post(charges, content=b'{"amount":5}', headers=headers)
    assert charged.status_code == 200 and charged.json()["balance"] == 5


async def test_a_body_that_is_not_sent_as_json_is_415(client: Client, services: Services) -> None:
    user = await create_user(services)
    before = await counts(services)
    for content_type in [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""]:
        headers = {**user.headers, **({"content-type": content_type} if content_type is not None else {})}
        charges = f"/api/v1/wallets/{user.wallet_id}/charges"
        assert_problem(
            await client.post(charges, content=b'{"amount":5}', headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE"
        )
        sign_up = b'{"name":"fan.plain","password":"password-1"}'
        assert_problem(
            await client.post("/api/v1/users", content=sign_up, headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE"
        )
    assert await counts(services) == before


async def test_json_media_types_are_accepted(client: Client, services: Services) -> None:
    user = await create_user(services)
    for content_type in ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]:
        response = await client.post(
            f"/api/v1/wallets/{user.wallet_id}/charges",
            content=b'{"amount":5}',
            headers={**user.headers, "content-type": content_type},
        )
        assert response.status_code == 200, response.text


async def test_an_empty_body_without_a_content_type_is_422(client: Client, services: Services) -> None:
    user = await create_user(services)
    response = await client.post(f"/api/v1/wallets/{user.wallet_id}/charges", headers=user.headers)
    assert_problem(response, 422, "VALIDATION_ERROR")


def test_the_openapi_document_lists_415_where_a_body_is_accepted(app: Litestar) -> None:
    """The served document (``/openapi.json``): completed from each handler's configuration, so a
    body implies its 415 whether or not the handler declares it."""
    paths = openapi_document(app)["paths"]
    with_body = [(p, m, op) for p, ops in paths.items() for m, op in ops.items() if "requestBody" in op]
    assert len(with_body) >= 8
    assert [(p, m) for p, m, op in with_body if "415" not in op["responses"]] == []


async def test_schedule_dates_at_the_ends_of_the_calendar_are_422(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    concert_id = await create_concert(services)
    valid = {
        "starts_at": "2030-01-01T00:00:00Z",
        "reservation_opens_at": "2029-01-01T00:00:00Z",
        "reservation_closes_at": "2029-12-31T00:00:00Z",
        "price": 1000,
        "seat_count": 2,
    }
    path = f"/api/v1/admin/concerts/{concert_id}/schedules"
    for field in ("reservation_opens_at", "reservation_closes_at", "starts_at"):
        for moment in ("0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
            # 0001-01-01 came back from asyncpg as a naive datetime: every seat read of the date was a 500
            response = await client.post(path, json={**valid, field: moment}, headers=admin.headers)
            assert_problem(response, 422, "VALIDATION_ERROR")
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM schedules") == 0
    assert (await client.post(path, json=valid, headers=admin.headers)).status_code == 201


async def test_a_request_id_that_is_not_visible_ascii_is_replaced(client: Client) -> None:
    for sent in (b"\x01abc", b"caf\xe9", b"a b"):
        response = await client.get("/api/v1/concerts", headers={b"X-Request-ID": sent})
        assert response.status_code == 200
        echoed = response.headers["x-request-id"]
        assert echoed != sent.decode("latin-1") and len(echoed) == 32 and echoed.isalnum()
    kept = await client.get("/api/v1/concerts", headers={"X-Request-ID": "trace-1:ab/c"})
    assert kept.headers["x-request-id"] == "trace-1:ab/c"


# --- Settings and the command line --------------------------------------------------------------

SECRET = "Zq7-very-secret-TAIL"  # noqa: S105 - too short: refused


@pytest.mark.parametrize(
    "overrides",
    [
        {"jwt_secret": SECRET, "admin_password": "another-Pw-9"},
        {"jwt_secret": "s" * 40 + SECRET, "admin_password": "admin"},
        {"jwt_secret": "s" * 40 + SECRET, "admin_password": "another-Pw-9", "port": f"x{SECRET}"},
    ],
)
def test_a_refused_start_up_never_prints_the_secret(tmp_path: Path, overrides: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(
            env="production",
            data_dir=tmp_path,
            database_url="postgresql://ticketing:Db-Pw-77@db/x",
            redis_url="redis://r/0",
            **overrides,  # type: ignore[arg-type]
        )
    shown = f"{refused.value}\n{refused.value!r}"
    for secret in (SECRET, "TAIL", "another-Pw-9", "Db-Pw-77"):
        assert secret not in shown
    assert "TICKETING_" in shown or "port" in shown  # the message names the setting


def test_demo_data_refuses_to_run_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    production = Settings(
        env="production",
        data_dir=tmp_path,
        jwt_secret="s" * 40,
        admin_password="another-Pw-9",
        database_url="postgresql://db/x",
        redis_url="redis://r/0",
    )
    loaded: list[Settings] = []
    monkeypatch.setattr("ticketing.demo.load_demo_data", loaded.append)
    assert cli.COMMANDS["demo-data"](production, argparse.Namespace()) != 0
    assert "production" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="production"):  # what `ticketing run` calls
        cli.load_demo(production)
    assert loaded == []


# --- A fuzz of the public endpoints -------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",  # a lone surrogate: msgspec encodes it as \\ud800
    "\u202e\u0041",
    "\ufeff",
    "\U0001f600" * 40,
    "x" * 10_000,
    "\u00b2",
    "\u0663",
    "'; DROP TABLE users; --",
    "%00",
    "\\",
    '"',
    "null",
]
ODD_VALUES: list[Any] = [
    *ODD_STRINGS,
    None,
    True,
    0,
    -1,
    2**63,
    2**64,
    -(2**63) - 1,
    1e308,
    1.5,
    [],
    [2**64],
    {},
    {"a": 1},
]
ODD_BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"\xff",
    b'{"a":1}\x00',
    b"{}" + b" " * 10,
    b'{"' + b"a" * 1000 + b'":1}',
    b"[" * 10_000,
    b'{"x":' + b"9" * 5000 + b"}",
]


async def test_fuzz_of_the_public_endpoints_never_answers_500(client: Client, services: Services) -> None:
    user = await create_user(services, balance=1000)
    admin = await create_user(services, role="admin")
    concert_id = await create_concert(services)
    schedule = await create_schedule(services, concert_id)
    token = await admitted_token(services, user, concert_id)
    fan = {**user.headers, "X-Queue-Token": token}
    endpoints: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("/api/v1/users", {"name": "fuzz.fan", "password": "password-1"}, {}),
        ("/api/v1/auth/token", {"name": user.name, "password": "password-1"}, {}),
        (f"/api/v1/wallets/{user.wallet_id}/charges", {"amount": 1}, user.headers),
        ("/api/v1/admin/concerts", {"title": "t", "venue": "v", "description": "d"}, admin.headers),
        (
            f"/api/v1/admin/concerts/{concert_id}/schedules",
            {
                "starts_at": "2030-01-01T00:00:00Z",
                "reservation_opens_at": "2029-01-01T00:00:00Z",
                "reservation_closes_at": "2029-12-31T00:00:00Z",
                "price": 1000,
                "seat_count": 1,
            },
            admin.headers,
        ),
        ("/api/v1/reservations", {"seat_id": schedule.seats[0].id}, fan),
        ("/api/v1/payments", {"reservation_id": 1}, fan),
    ]
    failures: list[str] = []

    async def send(path: str, headers: dict[str, str], **kwargs: Any) -> None:
        response = await client.post(path, headers=headers, **kwargs)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {path} {kwargs} {response.text[:200]}")

    for path, valid, headers in endpoints:
        for field, value in itertools.product(list(valid), ODD_VALUES):
            # json.dumps, not httpx's json=: it escapes a lone surrogate instead of failing on it
            await send(path, {**headers, **JSON}, content=json.dumps({**valid, field: value}).encode())
        for body in ODD_BODIES:
            await send(path, {**headers, **JSON}, content=body)
    for odd in [text for text in ODD_STRINGS if text != "\ud800"]:  # a URL cannot carry a lone surrogate
        for path in [
            f"/api/v1/wallets/{user.wallet_id}/ledger",
            "/api/v1/payments",
            "/api/v1/reservations",
            f"/api/v1/concerts/{concert_id}/schedules",
            f"/api/v1/schedules/{schedule.id}/seats",
        ]:
            response = await client.get(path, params={"cursor": odd, "limit": odd}, headers=fan)
            if response.status_code >= 500:
                failures.append(f"{response.status_code} GET {path} {odd!r} {response.text[:200]}")
        for header in ("Authorization", "X-Queue-Token", "Idempotency-Key"):
            raw = odd.encode()[:300]
            response = await client.get("/api/v1/queue/tokens/me", headers=raw_headers({**fan, header: raw}))
            if response.status_code >= 500:
                failures.append(f"{response.status_code} header {header} {odd!r} {response.text[:200]}")
    assert failures == []

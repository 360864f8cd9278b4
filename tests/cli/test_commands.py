"""The command line: operator commands, against the test servers."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ticketing.cli import main
from ticketing.container import Services
from ticketing.venues.example import hall_plan


def test_admin_creates_a_concert_and_a_schedule(
    services: Services, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin", "create-concert", "--title", "Winter gala", "--venue", "Hall"]) == 0
    concert = json.loads(capsys.readouterr().out)
    assert concert["title"] == "Winter gala"
    args = [
        "admin", "create-schedule", "--concert-id", str(concert["id"]), "--starts-at", "2030-12-24T19:00:00+09:00",
        "--opens-at", "2030-12-01T10:00:00+09:00", "--closes-at", "2030-12-24T18:00:00+09:00",
        "--seats", "30", "--price", "70000",
    ]  # fmt: skip
    assert main(args) == 0
    schedule = json.loads(capsys.readouterr().out)
    assert schedule["seats"] == 30
    assert schedule["concert_id"] == concert["id"]
    bad = [*args[:-2], "--price", "0"]
    assert main(bad) == 2
    assert "invalid input: Expected `int` >= 1 - at `$.price`" in capsys.readouterr().err
    missing = ["admin", "create-schedule", "--concert-id", "999999999", *args[4:]]
    assert main(missing) == 1
    assert "refused (CONCERT_NOT_FOUND)" in capsys.readouterr().err


# --- ticketing admin create-operator (the production bootstrap) ---------------------------------

OPERATOR_PASSWORD = "Op3rator-pass"  # noqa: S105 - a test account's


async def create_operator(monkeypatch: pytest.MonkeyPatch, password: str, *extra: str, name: str = "boxoffice") -> int:
    """The command, in a thread of its own (it runs its own event loop, as from a shell)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return await asyncio.to_thread(main, ["admin", "create-operator", "--name", name, "--password-stdin", *extra])


async def operator_may_create_concerts(client: AsyncTestClient[Litestar], name: str, password: str) -> bool:
    signed_in = await client.post("/api/v1/auth/token", json={"name": name, "password": password})
    if signed_in.status_code != 200:
        return False
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    created = await client.post("/api/v1/admin/concerts", json={"title": "Bootstrap"}, headers=headers)
    return created.status_code == 201


async def test_create_operator_makes_an_operator_and_is_idempotent(
    client: AsyncTestClient[Litestar],
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await create_operator(monkeypatch, OPERATOR_PASSWORD) == 0
    created = json.loads(capsys.readouterr().out)
    assert (created["name"], created["role"], created["outcome"]) == ("boxoffice", "admin", "created")
    assert await operator_may_create_concerts(client, "boxoffice", OPERATOR_PASSWORD)
    # Again, same name and password (a bootstrap run on every release): nothing changes.
    assert await create_operator(monkeypatch, OPERATOR_PASSWORD) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["id"], again["outcome"]) == (created["id"], "unchanged")
    # Another password is refused, and the account keeps its own...
    assert await create_operator(monkeypatch, "An0ther-password") == 1
    assert "refused (USER_NAME_TAKEN)" in capsys.readouterr().err
    assert await operator_may_create_concerts(client, "boxoffice", OPERATOR_PASSWORD)
    # ...unless asked for.
    assert await create_operator(monkeypatch, "An0ther-password", "--reset-password") == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "password_reset"
    assert not await operator_may_create_concerts(client, "boxoffice", OPERATOR_PASSWORD)
    assert await operator_may_create_concerts(client, "boxoffice", "An0ther-password")


async def test_create_operator_promotes_a_fan_only_when_asked(
    client: AsyncTestClient[Litestar],
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (await client.post("/api/v1/users", json={"name": "dana", "password": "fan-password"})).status_code == 201
    assert await create_operator(monkeypatch, OPERATOR_PASSWORD, name="dana") == 1
    assert "fan's account (--promote" in capsys.readouterr().err
    assert not await operator_may_create_concerts(client, "dana", "fan-password")  # still a fan
    assert await create_operator(monkeypatch, OPERATOR_PASSWORD, "--promote", name="dana") == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "promoted"
    assert await operator_may_create_concerts(client, "dana", OPERATOR_PASSWORD)


def test_create_operator_takes_the_password_from_the_environment_and_checks_it(
    cli_env: None, services: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ticketing.config import get_settings

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, nothing piped
    assert main(["admin", "create-operator", "--name", "ops"]) == 2  # the local default "admin" is not one
    assert "no password" in capsys.readouterr().err
    monkeypatch.setenv("TICKETING_ADMIN_PASSWORD", "short")
    get_settings.cache_clear()
    assert main(["admin", "create-operator", "--name", "ops"]) == 2
    err = capsys.readouterr().err
    assert "invalid input" in err and "$.password" in err and "short" not in err.replace("$.password", "")
    monkeypatch.setenv("TICKETING_ADMIN_PASSWORD", OPERATOR_PASSWORD)
    get_settings.cache_clear()
    assert main(["admin", "create-operator", "--name", "ops"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "created"


def test_admin_creates_a_venue_from_a_plan_file(
    services: Services, cli_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = hall_plan("Little Hall", zones=2, rows=3, seats_per_row=4)
    path = tmp_path / "hall.json"
    path.write_bytes(msgspec.json.encode(plan))
    assert main(["admin", "create-venue", "--plan", str(path)]) == 0
    venue = json.loads(capsys.readouterr().out)
    assert (venue["name"], venue["seat_count"]) == ("Little Hall", 24)
    assert [zone["seat_count"] for zone in venue["zones"]] == [12, 12]
    plan["zones"][0]["rows"][0]["seats"][0]["category"] = "Standing"
    path.write_bytes(msgspec.json.encode(plan))
    assert main(["admin", "create-venue", "--plan", str(path), "--name", "Other"]) == 1
    assert "refused (INVALID_SEATING_PLAN): plan.zones[0].rows[0].seats[" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="cannot read"):
        main(["admin", "create-venue", "--plan", str(tmp_path / "missing.json")])

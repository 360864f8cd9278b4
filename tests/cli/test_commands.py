"""The command line: operator commands and load-test fixtures, against the test servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest

from ticketing.cli import main
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.core.db import required
from ticketing.core.security import read_access_token


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from ticketing.config import get_settings

    monkeypatch.setenv("DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("TICKETING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TICKETING_JWT_SECRET", settings.jwt_secret)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


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
    with pytest.raises(msgspec.ValidationError):
        main(bad)


async def test_loadtest_users_are_funded_with_ledger_rows_and_valid_tokens(
    services: Services, cli_env: None, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    command = ["loadtest-users", "--count", "500", "--balance", "12345", "--out", str(out)]
    assert await asyncio.to_thread(main, command) == 0  # the command runs its own event loop
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 500
    assert set(lines[0]) == {"id", "name", "wallet_id", "access_token"}
    principal = read_access_token(lines[0]["access_token"], secret=services.settings.jwt_secret)
    assert principal is not None
    assert principal.user_id == lines[0]["id"]
    async with services.uow() as uow:
        wallets, balances, ledger = required(
            await uow.conn.fetchrow(
                "SELECT count(*), sum(balance), (SELECT sum(amount) FROM ledger_entries WHERE kind = 'CHARGE') "
                "FROM wallets"
            )
        )
    assert (wallets, balances, ledger) == (500, 500 * 12_345, 500 * 12_345)

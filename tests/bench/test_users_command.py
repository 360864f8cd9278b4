"""``python -m bench users``: the load-test fans, made by the owners of the users, wallets and
ledger tables (``UserService.create_fans_in_bulk``), against the test servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bench.__main__ import main

from ticketing.container import Services
from ticketing.kernel.db import required
from ticketing.kernel.security import read_access_token


async def test_loadtest_users_are_funded_with_ledger_rows_and_valid_tokens(
    services: Services, cli_env: None, tmp_path: Path
) -> None:
    out = tmp_path / "users.jsonl"
    command = ["users", "--count", "500", "--balance", "12345", "--out", str(out)]
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

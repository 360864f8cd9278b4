"""Helpers shared by test modules (test modules never import each other): HTTP problem checks,
the test client's type, and reads straight from the database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ticketing.container import Services

Client = AsyncTestClient[Litestar]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"] and body["detail"] and body["type"]
    return body


def raw_headers(headers: Mapping[str, str | bytes]) -> dict[bytes, bytes]:
    """Headers some of whose values are bytes (not visible ASCII), as httpx sends them: it encodes a
    str as ASCII and passes bytes through, but its types take a mapping of all str or all bytes."""
    return {
        name.encode("ascii"): value if isinstance(value, bytes) else value.encode("ascii")
        for name, value in headers.items()
    }


async def balance_of(services: Services, wallet_id: int) -> tuple[int, int]:
    """(balance, number of ledger rows), read straight from the database."""
    async with services.uow() as uow:
        row = await uow.conn.fetchrow(
            "SELECT w.balance, (SELECT count(*) FROM ledger_entries l WHERE l.wallet_id = w.id) "
            "FROM wallets w WHERE w.id = $1",
            wallet_id,
        )
    assert row is not None
    return int(row[0]), int(row[1])

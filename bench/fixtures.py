"""Load-test fans: created in bulk with funded wallets and signed access tokens, so a load test
of 100,000 users never pays 100,000 password hashes or sign-ins."""

from __future__ import annotations

import secrets
from pathlib import Path

import msgspec

from ticketing.container import Services
from ticketing.kernel.security import Principal


class LoadTestFan(msgspec.Struct):
    id: int
    name: str
    wallet_id: int
    access_token: str


async def create_fans(services: Services, count: int, balance: int, prefix: str | None = None) -> list[LoadTestFan]:
    prefix = prefix or f"lt{secrets.token_hex(3)}_"
    rows = await services.users.create_fans_in_bulk(prefix, count, balance)
    return [
        LoadTestFan(
            id=row.id,
            name=row.name,
            wallet_id=row.wallet_id,
            access_token=services.users.issue_token(Principal(user_id=row.id, name=row.name, role="fan")),
        )
        for row in rows
    ]


def write_jsonl(fans: list[LoadTestFan], out: Path) -> None:
    encoder = msgspec.json.Encoder()
    with out.open("wb") as fh:
        for fan in fans:
            fh.write(encoder.encode(fan) + b"\n")

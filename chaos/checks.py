"""The harness's own access to the data, straight to PostgreSQL and Valkey (never through the
faulty proxies): fixtures before a phase, the database's verdict after it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from bench.fixtures import LoadTestFan, create_fans
from bench.repository import BenchRepository
from bench.workloads import create_sale

from ticketing.config import Settings
from ticketing.container import open_services

FAN_BALANCE = 1_000_000
PRICE = 50_000


@dataclass
class SaleFixture:
    concert_id: int
    schedule_id: int
    fans: list[LoadTestFan]


async def prepare_sale(settings: Settings, title: str, fans: int, seats: int) -> SaleFixture:
    """One concert with one date open for reservation now, and funded fans with access tokens."""
    # Fresh connections for each use (here and below): a pool kept across a PostgreSQL crash
    # would hand out dead connections and make the harness, not the service, fail.
    async with open_services(settings) as services:
        concert_id, schedules, _ = await create_sale(services, title, dates=1, seats=seats, price=PRICE)
        people = await create_fans(services, fans, FAN_BALANCE, prefix=f"ch{secrets.token_hex(3)}_")
    return SaleFixture(concert_id, schedules[0], people)


@dataclass
class DatabaseVerdict:
    violations: dict[str, int] = field(default_factory=dict)
    deadlocks: int = 0
    reservation_ids: set[int] = field(default_factory=set)  # every reservation of the phase's date
    confirmed_ids: set[int] = field(default_factory=set)


async def database_verdict(settings: Settings, schedule_id: int) -> DatabaseVerdict:
    async with open_services(settings) as services, services.uow(autocommit=True) as uow:
        repo = BenchRepository(uow.conn)
        rows = await uow.conn.fetch("SELECT id, status FROM reservations WHERE schedule_id = $1", schedule_id)
        return DatabaseVerdict(
            violations=await repo.invariant_violations(),
            deadlocks=await repo.deadlocks(),
            reservation_ids={int(r["id"]) for r in rows},
            confirmed_ids={int(r["id"]) for r in rows if r["status"] == "CONFIRMED"},
        )


async def expired_holds_read_held(
    http: httpx.AsyncClient, fans: dict[int, LoadTestFan], abandoned: list[tuple[int, int, float]]
) -> tuple[int, int]:
    """docs/api.md: a HELD reservation whose ``held_until`` has passed reads as EXPIRED. Of the
    holds the fans walked away from that lapsed more than a second ago: (checked, read HELD)."""
    now = datetime.now(UTC).timestamp()
    checked = wrong = 0
    for fan_id, reservation_id, held_until in abandoned:
        if not held_until or held_until > now - 1:
            continue
        headers = {"Authorization": f"Bearer {fans[fan_id].access_token}"}
        try:
            response = await http.get(f"/api/v1/reservations/{reservation_id}", headers=headers)
        except httpx.HTTPError:
            continue
        if response.status_code != 200:
            continue
        checked += 1
        wrong += response.json().get("status") == "HELD"
    return checked, wrong

"""The harness's own access to the data, straight to PostgreSQL and Valkey (never through the
faulty proxies): fixtures before a phase, the database's verdict after it."""

from __future__ import annotations

import secrets
from collections import Counter
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
# The sweeper releases a lapsed hold within a second; a seat still HELD this long after its
# deadline is a hold nobody releases (the seat is neither sold nor for sale).
LAPSED_HOLD_MARGIN = 10


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
    refunded_payment_ids: set[int] = field(default_factory=set)
    fans_over_refund_cap: int = 0
    seats: dict[str, int] = field(default_factory=dict)  # sold, free, held, held past its deadline


async def database_verdict(settings: Settings, schedule_id: int, max_refunds: int) -> DatabaseVerdict:
    async with open_services(settings) as services, services.uow(autocommit=True) as uow:
        repo = uow.repo(BenchRepository)
        rows = await uow.conn.fetch("SELECT id, status FROM reservations WHERE schedule_id = $1", schedule_id)
        refunded = await uow.conn.fetch(
            "SELECT p.id, r.user_id FROM payments p JOIN reservations r ON r.id = p.reservation_id "
            "WHERE r.schedule_id = $1 AND p.status = 'REFUNDED'",
            schedule_id,
        )
        per_fan = Counter(int(r["user_id"]) for r in refunded)
        seats = await uow.conn.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'SOLD') AS sold, "
            "count(*) FILTER (WHERE status = 'AVAILABLE') AS free, "
            "count(*) FILTER (WHERE status = 'HELD' AND held_until > now()) AS held, "
            "count(*) FILTER (WHERE status = 'HELD' AND held_until <= now() - make_interval(secs => $2)) "
            "AS held_past_deadline FROM seats WHERE schedule_id = $1",
            schedule_id,
            LAPSED_HOLD_MARGIN,
        )
        return DatabaseVerdict(
            violations=await repo.invariant_violations(),
            deadlocks=await repo.deadlocks(),
            reservation_ids={int(r["id"]) for r in rows},
            confirmed_ids={int(r["id"]) for r in rows if r["status"] == "CONFIRMED"},
            refunded_payment_ids={int(r["id"]) for r in refunded},
            fans_over_refund_cap=sum(1 for n in per_fan.values() if n > max_refunds),
            seats={k: int(v) for k, v in dict(seats or {}).items()},
        )


async def latest_hold_deadline(settings: Settings, schedule_id: int) -> float | None:
    """When the last live hold of the date lapses (epoch seconds), or None without one."""
    async with open_services(settings) as services, services.uow(autocommit=True) as uow:
        latest = await uow.conn.fetchval(
            "SELECT max(held_until) FROM seats WHERE schedule_id = $1 AND status = 'HELD'", schedule_id
        )
    return latest.timestamp() if latest is not None else None


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

"""``make cluster-test``: flash sales through HAProxy on the running topology, one fault per phase.

Each phase is a new concert and its own funded fans (made straight in the database, as the chaos
harness does), who arrive over the phase and behave as ``chaos.fans.Fan`` does: join the queue,
poll, read the seat map, hold, pay with an Idempotency-Key and retry on a 5xx (one in ten walks
away from a hold, some double-click the payment). Every request goes through the balancer, each
fan from an address of its own (``X-Forwarded-For``, which the nodes believe of HAProxy): the
production rate limits stay on. In the middle of the phase comes its fault (``faults.py``).

The verdict, per phase (``PhaseResult.failures``):
- no seat sold twice and every won accounted: the database invariants of the bench (live
  reservations per seat, payments per confirmed reservation, wallets against their ledger);
- every fan told "paid" paid, every payment the database shows was told so (or not answered),
  twins (one key sent at once) got one answer — chaos' rules;
- no fan stuck while seats are free: every fan has ended (bought, walked away, or was refused)
  by the phase's end unless the date has no free seat left;
- 0 5xx, network errors or hung requests through the balancer outside the blip: from the fault's
  start to ``BLIP_SECONDS`` after its end (counted and reported); a 500 anywhere fails.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

import httpx
from chaos.checks import database_verdict, prepare_sale
from chaos.fans import CLIENT_TIMEOUT, Fan, Sale, finish_fans
from chaos.journal import HUNG, NETWORK, Journal, told_otherwise, twins_disagree

from cluster.faults import Fault, FaultContext
from cluster.topology import Topology
from ticketing.config import Settings
from ticketing.container import open_services

BLIP_SECONDS = 10.0  # after the fault ends: HAProxy's checks, redis-py's slot map, pools refilled


@dataclass(frozen=True)
class PhaseOptions:
    fans: int
    seats: int
    pre: float  # seconds of load before the fault
    after: float  # seconds of load after it; the last fans arrive in its first third


@dataclass
class PhaseResult:
    fault: Fault
    fans: int = 0
    journal: Journal = field(default_factory=Journal)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    fault_start: float = 0.0
    fault_end: float = 0.0
    seconds: float = 0.0
    violations: dict[str, int] = field(default_factory=dict)
    told_paid_not_paid: list[str] = field(default_factory=list)
    paid_told_otherwise: list[str] = field(default_factory=list)
    twin_mismatches: list[str] = field(default_factory=list)
    walked_away: int = 0
    gave_up: int = 0
    waiting_at_end: int = 0
    free_seats_at_end: int = 0
    replica_lag: tuple[int, float] | None = None
    harness_errors: list[str] = field(default_factory=list)

    def in_blip(self, started: float, ended: float) -> bool:
        return ended >= self.fault_start and started <= self.fault_end + BLIP_SECONDS

    def failed_answers(self) -> tuple[Counter[str], Counter[str]]:
        """5xx, network errors and hung requests: (in the blip, outside it), by status and code."""
        blip: Counter[str] = Counter()
        outside: Counter[str] = Counter()
        for a in self.journal.answers:
            if a.status >= 500 or a.status in (NETWORK, HUNG):
                label = {NETWORK: "network", HUNG: "hung"}.get(a.status, str(a.status))
                counter = blip if self.fault.key != "sale" and self.in_blip(a.started, a.ended) else outside
                counter[f"{a.endpoint} {label} {a.code}"] += 1
        return blip, outside

    def blip_span(self) -> float:
        """Seconds from the first failed answer's request to the last failed answer (0: none)."""
        failed = [a for a in self.journal.answers if a.status >= 500 or a.status in (NETWORK, HUNG)]
        return max(a.ended for a in failed) - min(a.started for a in failed) if failed else 0.0

    @property
    def stuck(self) -> int:
        return self.waiting_at_end if self.free_seats_at_end > 0 else 0

    def failures(self) -> list[str]:
        _, outside = self.failed_answers()
        internal = sum(1 for a in self.journal.answers if a.status == 500)
        found = [
            *(f"{name}: {value}" for name, value in self.violations.items()),
            *(f"told paid, not paid: {x}" for x in self.told_paid_not_paid),
            *(f"paid, told otherwise: {x}" for x in self.paid_told_otherwise),
            *(f"one key, different answers: {x}" for x in self.twin_mismatches),
            *self.harness_errors,
        ]
        if internal:
            found.append(f"{internal} answers 500")
        if outside:
            found.append(f"failed answers outside the blip: {dict(outside)}")
        if self.figures.get("queue_keys_before", 0) and not self.figures.get("queue_keys_after", 0):
            found.append("the sale's queue did not survive the Valkey failover")
        if self.stuck:
            found.append(f"{self.stuck} fans still waiting at the end with {self.free_seats_at_end} seats free")
        return found


def harness_settings(topology: Topology) -> Settings:
    """The harness's own way in: straight to PostgreSQL (never through the PgBouncer a fault
    restarts) and to the Valkey cluster, signing fans' tokens with the nodes' secret."""
    return Settings(
        env="local",
        database_url=topology.postgres.url,
        redis_url=topology.valkey.url,
        data_dir=topology.work_dir / "harness",
        jwt_secret=topology.jwt_secret,
        db_pool_size=2,
    )


def _address_of(index: int) -> str:
    """An address per fan (the benchmarking range 198.18.0.0/15), sent as X-Forwarded-For so the
    production per-address limits count fans: only ever a header value."""
    return f"198.18.{index >> 8}.{index & 0xFF}"


async def run_phase(topology: Topology, settings: Settings, options: PhaseOptions, fault: Fault) -> PhaseResult:
    result = PhaseResult(fault, fans=options.fans)
    fixture = await prepare_sale(settings, f"cluster: {fault.key}", options.fans, options.seats)
    before = await database_verdict(settings, fixture.schedule_id, settings.max_refunds_per_fan_per_date)
    ctx = FaultContext(topology, fixture.concert_id, result.notes, result.figures)
    rng = random.Random(zlib.crc32(fault.key.encode()))  # noqa: S311  the same arrivals run after run
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    ended: dict[int, float] = {}

    async def journey(fan: Fan, arrival: float) -> None:
        await fan.journey(arrival)
        ended[fan.fan.id] = time.monotonic()

    async with httpx.AsyncClient(
        base_url=topology.url,
        limits=limits,
        timeout=httpx.Timeout(CLIENT_TIMEOUT + 5),  # above the fan's own: a slow answer is "hung"
    ) as http:
        t0 = time.monotonic()
        # No refunds here: this test's verdict is "told paid = paid" through faults; make chaos
        # is where fans refund (a refunded seat would read as "told paid, not paid").
        sale = Sale(http, result.journal, fixture.concert_id, t0, t0 + 3600, refund_share=0.0)
        arrivals = options.pre + options.after / 3
        fans = [Fan(sale, fan, rng.randrange(1 << 30), _address_of(i)) for i, fan in enumerate(fixture.fans, start=1)]
        tasks = [asyncio.create_task(journey(fan, rng.uniform(0, arrivals))) for fan in fans]
        try:
            await asyncio.sleep(options.pre)
            result.fault_start = time.monotonic() - t0
            try:
                fault_end = await fault.inject(ctx)
            except Exception as error:  # reported; the phase still ends and is checked
                fault_end = time.monotonic()
                result.harness_errors.append(f"fault injection failed: {error!r}")
            result.fault_end = fault_end - t0
            sale.deadline = max(fault_end + options.after, time.monotonic() + 1)
            await asyncio.sleep(max(0.0, sale.deadline - time.monotonic()))
            await finish_fans(tasks, CLIENT_TIMEOUT + 3, result.harness_errors)
            result.seconds = time.monotonic() - t0
        finally:
            await finish_fans(tasks, 0, [])
    try:
        await fault.restore(ctx)
    except Exception as error:
        result.harness_errors.append(f"restoring after the fault failed: {error!r}")
    await _verdict(result, settings, fixture.schedule_id, before.violations, fans, ended, sale.deadline)
    result.replica_lag = await asyncio.to_thread(topology.replica_lag)
    return result


async def _verdict(
    result: PhaseResult,
    settings: Settings,
    schedule_id: int,
    violations_before: dict[str, int],
    fans: list[Fan],
    ended: dict[int, float],
    deadline: float,
) -> None:
    after = await database_verdict(settings, schedule_id, settings.max_refunds_per_fan_per_date)
    result.violations = {
        name: value - violations_before.get(name, 0)
        for name, value in after.violations.items()
        if value != violations_before.get(name, 0)
    }
    for trail in result.journal.trails:
        confirmed = trail.reservation_id in after.confirmed_ids
        answers = ", ".join(a.describe() for a in trail.answers)
        if trail.told_paid and not confirmed:
            result.told_paid_not_paid.append(f"fan {trail.fan_id} reservation {trail.reservation_id}: {answers}")
        if told_otherwise(trail, confirmed, tokens_may_be_lost=False):
            result.paid_told_otherwise.append(f"fan {trail.fan_id} reservation {trail.reservation_id}: {answers}")
    for group in result.journal.twins:
        if twins_disagree(group, tokens_may_be_lost=False):
            answers = ", ".join(a.describe() for a in group.answers)
            result.twin_mismatches.append(f"fan {group.fan_id} key {group.key}: {answers}")
    walked_away = {fan_id for fan_id, _, _ in result.journal.abandoned}
    bought = {t.fan_id for t in result.journal.trails if t.told_paid}
    for fan in fans:
        who = fan.fan.id
        if who in bought:
            continue
        if who in walked_away:
            result.walked_away += 1
        elif ended.get(who, deadline) < deadline:
            result.gave_up += 1  # refused (e.g. no seat left, a limit): an end, not a wait
        else:
            result.waiting_at_end += 1
    result.free_seats_at_end = await _free_seats(settings, schedule_id)


async def _free_seats(settings: Settings, schedule_id: int) -> int:
    async with open_services(settings) as services, services.uow(autocommit=True) as uow:
        free = await uow.conn.fetchval(
            "SELECT count(*) FROM seats WHERE schedule_id = $1 AND status = 'AVAILABLE'", schedule_id
        )
        return int(free)

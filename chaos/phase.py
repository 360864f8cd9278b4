"""One scenario: a phase of load with its fault in the middle and a recovery window after, then
the checks (database invariants, replies to payment and refund keys, every fan's end, the seats,
lapsed holds, processes)."""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from dataclasses import dataclass, field

import httpx
from bench.fixtures import LoadTestFan

from chaos import cpu
from chaos.checks import (
    LAPSED_HOLD_MARGIN,
    DatabaseVerdict,
    database_verdict,
    expired_holds_read_held,
    latest_hold_deadline,
    prepare_sale,
)
from chaos.fans import CLIENT_TIMEOUT, Fan, Sale, finish_fans
from chaos.journal import Journal, end_table, refund_disagreements, told_otherwise, twins_disagree
from chaos.scenarios import FaultContext, Scenario
from chaos.stack import HOST, NODES, WORKERS_PER_NODE, Stack
from ticketing.config import Settings

WORKERS = NODES * WORKERS_PER_NODE
# After the load's end the fans on their way go on while the sale moves: the phase ends once each
# has an end, once none reached one (nor held or paid) for DRAIN_STALL_SECONDS, or at the limit.
DRAIN_STALL_SECONDS = 30.0
DRAIN_LIMIT_SECONDS = 180.0


@dataclass
class PhaseOptions:
    fans: int
    seats: int
    pre: float  # seconds of load before the fault
    fault: float  # seconds the fault lasts (unless the scenario says otherwise)
    recovery: float  # seconds of load after the fault, at least the target + 1
    patience: float  # seconds a fan keeps looking while no seat is free (past a hold's life)
    max_refunds: int  # the service's refund cap per fan and date


@dataclass
class ScenarioResult:
    scenario: Scenario
    journal: Journal = field(default_factory=Journal)
    notes: list[str] = field(default_factory=list)
    fault_start: float = 0.0  # seconds from the phase start
    fault_end: float = 0.0
    new_violations: dict[str, int] = field(default_factory=dict)
    deadlocks: int = 0
    ghost_holds: int = 0  # holds in the database that no fan was told about
    expired_checked: int = 0
    expired_read_held: int = 0
    twin_groups: int = 0
    twin_mismatches: list[str] = field(default_factory=list)
    told_otherwise: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    log_lines: int = 0
    harness_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    loop_lag: float = 0.0  # the harness's worst event-loop delay during the phase, seconds
    drain: float = 0.0  # seconds from the load's end until every fan had an end (or the drain ended)
    stalled: bool = False  # the drain ended because the sale stood still
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the phase, by part of the run
    fans: dict[int, LoadTestFan] = field(default_factory=dict)
    seat_count: int = 0
    ends: dict[str, int] = field(default_factory=dict)  # end state -> fans
    unfinished: list[str] = field(default_factory=list)  # the last answer of each fan with no end state
    refund_disagreements: list[str] = field(default_factory=list)
    refunds_over_cap: int = 0
    seats: dict[str, int] = field(default_factory=dict)  # at the end: sold, free, held, held past deadline
    held_at_end: int = 0  # a sale that sells out: live holds once every hold had time to lapse

    @property
    def refund_failures(self) -> int:
        return len(self.refund_disagreements) + self.refunds_over_cap

    @property
    def seat_failures(self) -> int:
        """Seats neither sold nor for sale: held past their deadline, or (a sale that sells
        out) still held once every hold had time to lapse."""
        return self.seats.get("held_past_deadline", 0) + self.held_at_end


async def heal(stack: Stack, notes: list[str]) -> None:
    """Before a phase: every proxy clean, both servers up, the service ready with its workers."""
    for proxy in stack.proxies:
        await proxy.heal()
    if stack.redis.process is None or stack.redis.process.poll() is not None:
        await asyncio.to_thread(stack.restart_redis)
    if stack.postgres.process is None or stack.postgres.process.poll() is not None:
        await asyncio.to_thread(stack.restart_postgres)
    if not stack.nodes_running() or stack.worker is None or stack.worker.poll() is not None:
        await stack.kill_service()
        stack.launch_service()
        notes.append("the service was not running at the phase start: restarted")
    await stack.wait_ready()
    for _ in range(150):  # granian respawns a killed worker within seconds
        if len(stack.granian_workers()) >= WORKERS:
            break
        await asyncio.sleep(0.2)
    if len(stack.granian_workers()) < WORKERS:
        notes.append(f"only {len(stack.granian_workers())} of {WORKERS} granian workers at the phase start")


async def _watch_loop_lag(samples: list[float]) -> None:
    """How late this process's event loop runs. The fans share it: if it lags, a "hung" request
    or a slow recovery could be the harness's own doing, and the report says so."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(0.1)
        samples.append(time.monotonic() - started - 0.1)


def _log_lines(stack: Stack) -> int:
    total = 0
    for path in stack.logs.glob("*.log"):  # every node's and the worker's
        if path.exists():
            with path.open("rb") as fh:
                total += sum(1 for _ in fh)
    return total


async def run_phase(
    stack: Stack, settings: Settings, options: PhaseOptions, scenario: Scenario, violations_before: dict[str, int]
) -> tuple[ScenarioResult, dict[str, int]]:
    result = ScenarioResult(scenario)
    await heal(stack, result.notes)
    seats = round(options.fans * scenario.seats_per_fan) if scenario.seats_per_fan else options.seats
    result.seat_count = seats
    fixture = await prepare_sale(settings, f"chaos: {scenario.key}", options.fans, seats)
    before = await database_verdict(settings, fixture.schedule_id, options.max_refunds)
    logs_before = _log_lines(stack)
    fault_seconds = scenario.fault_seconds or options.fault
    # Room past the target, so that a slow recovery is measured rather than cut off.
    recovery = max(options.recovery, (scenario.recovery_target or 0) + 5)
    rng = random.Random(zlib.crc32(scenario.key.encode()))  # the same arrivals run after run
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    # httpx's own timeouts sit above the fan's, so that a slow answer is always our "hung".
    timeout = httpx.Timeout(CLIENT_TIMEOUT + 5)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{stack.port}", limits=limits, timeout=timeout) as http:
        lag_samples: list[float] = []
        lag = asyncio.create_task(_watch_loop_lag(lag_samples))
        cpu_before = await asyncio.to_thread(cpu.sample, stack.processes_by_part())
        t0 = time.monotonic()
        sale = Sale(
            http,
            result.journal,
            fixture.concert_id,
            t0,
            t0 + 3600,
            patience=options.patience,
            twin_share=scenario.twin_share,
            max_refunds=options.max_refunds,
        )
        arrivals = options.pre + fault_seconds + recovery / 2
        subnet = zlib.crc32(scenario.key.encode()) & 0xFF  # addresses of their own in each phase
        tasks = [
            asyncio.create_task(
                Fan(sale, fan, rng.randrange(1 << 30), f"10.{subnet}.{i >> 8}.{i & 0xFF}").journey(
                    rng.uniform(0, arrivals)
                )
            )
            for i, fan in enumerate(fixture.fans, start=1)
        ]
        try:
            await asyncio.sleep(options.pre)
            result.fault_start = time.monotonic() - t0
            ctx = FaultContext(stack, fault_seconds, result.notes)
            try:
                fault_end = await scenario.inject(ctx)
            except Exception as error:  # reported, and the phase still ends and is checked
                fault_end = time.monotonic()
                result.harness_errors.append(f"fault injection failed: {error!r}")
            result.fault_end = fault_end - t0
            sale.deadline = max(fault_end + recovery, time.monotonic() + 1)
            await asyncio.sleep(max(0.0, sale.deadline - time.monotonic()))
            # Fans on their way at the deadline go on until they reach an end while the sale
            # moves; then the sale closes, and requests in flight still get their answer (or
            # time out).
            result.drain, result.stalled = await drain(tasks, result.journal)
            sale.closed = True
            await finish_fans(tasks, CLIENT_TIMEOUT + 3, result.harness_errors)
            result.seconds = time.monotonic() - t0
            result.cpu = cpu.used(cpu_before, await asyncio.to_thread(cpu.sample, stack.processes_by_part()))
            for job in ctx.background:
                try:
                    await job
                except Exception as error:
                    result.harness_errors.append(f"during the fault: {error!r}")
            result.loop_lag = max(lag_samples, default=0.0)
        finally:
            # Also on Ctrl-C / SIGTERM: no fan outlives its phase's HTTP client.
            lag.cancel()
            await finish_fans(tasks, 0, [])
    result.fans = {fan.id: fan for fan in fixture.fans}
    _account_ends(result, fixture.fans)
    return await _verdict(stack, settings, options, result, fixture.schedule_id, before, violations_before, logs_before)


def _progress(journal: Journal) -> tuple[int, int, int]:
    """What moves a sale: fans reaching their end, holds granted, payments made."""
    return len(journal.ends), len(journal.received_reservations), journal.bought


async def drain(
    tasks: list[asyncio.Task[None]],
    journal: Journal,
    stall: float = DRAIN_STALL_SECONDS,
    limit: float = DRAIN_LIMIT_SECONDS,
) -> tuple[float, bool]:
    """After the load's end: until every fan's journey has ended, as long as the sale moves (a
    fan reached an end, a hold or a payment went through within ``stall`` seconds), for ``limit``
    seconds at most. A slow machine gets the time its pace needs; a sale that
    stands still (fans left waiting while nothing happens) does not. Returns the seconds it
    took and whether the sale stood still."""
    started = time.monotonic()
    moved_at, progress = started, _progress(journal)
    pending = {task for task in tasks if not task.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=min(1.0, stall / 4))
        now = time.monotonic()
        if _progress(journal) != progress:
            moved_at, progress = now, _progress(journal)
        if now - moved_at >= stall:
            return now - started, True
        if now - started >= limit:
            break
    return time.monotonic() - started, False


def _account_ends(result: ScenarioResult, fans: list[LoadTestFan]) -> None:
    """How each fan's sale ended; the fans without an end, with the last answer each saw."""
    journal = result.journal
    result.ends = dict(end_table(journal.ends, [fan.id for fan in fans]).most_common())
    result.unfinished = [journal.last_answers.get(fan.id, "none") for fan in fans if fan.id not in journal.ends]


async def _verdict(
    stack: Stack,
    settings: Settings,
    options: PhaseOptions,
    result: ScenarioResult,
    schedule_id: int,
    before: DatabaseVerdict,
    violations_before: dict[str, int],
    logs_before: int,
) -> tuple[ScenarioResult, dict[str, int]]:
    """After the phase: the database, the answers to payment and refund keys, the seats, the
    processes, the logs."""
    await heal(stack, result.notes)  # the checks need both servers (the fault is over)
    if result.scenario.seats_per_fan:
        # A sale that sells out ends with every seat sold or for sale: once the last hold's
        # life is over (and the sweeper has had its margin), none may be held any more.
        latest = await latest_hold_deadline(settings, schedule_id)
        if latest is not None:
            await asyncio.sleep(max(0.0, min(latest + LAPSED_HOLD_MARGIN - time.time(), 120.0)))
    after = await database_verdict(settings, schedule_id, options.max_refunds)
    result.seats = after.seats
    if result.scenario.seats_per_fan:
        result.held_at_end = after.seats.get("held", 0)
    result.refund_disagreements = refund_disagreements(result.journal.refunds, after.refunded_payment_ids)
    result.refunds_over_cap = after.fans_over_refund_cap
    result.deadlocks = max(0, after.deadlocks - before.deadlocks)  # a crash resets the statistics
    result.new_violations = {
        name: value - violations_before.get(name, 0)
        for name, value in after.violations.items()
        if value != violations_before.get(name, 0)
    }
    result.ghost_holds = len(after.reservation_ids - result.journal.received_reservations)
    _judge_keys(result, after.confirmed_ids)
    result.orphans = [f"pid {p.pid} {' '.join(p.cmdline()[:4])}" for p in stack.orphans()]
    result.log_lines = _log_lines(stack) - logs_before
    return result, after.violations


def _judge_keys(result: ScenarioResult, confirmed: set[int]) -> None:
    lost_tokens = result.scenario.loses_tokens
    result.twin_groups = len(result.journal.twins)
    for group in result.journal.twins:
        if twins_disagree(group, lost_tokens):
            answers = ", ".join(a.describe() for a in group.answers)
            result.twin_mismatches.append(f"fan {group.fan_id} key {group.key}: {answers}")
    for trail in result.journal.trails:
        if told_otherwise(trail, trail.reservation_id in confirmed, lost_tokens):
            answers = ", ".join(a.describe() for a in trail.answers)
            result.told_otherwise.append(f"fan {trail.fan_id} reservation {trail.reservation_id} paid, told: {answers}")


async def check_lapsed_holds(stack: Stack, results: list[ScenarioResult], hold_seconds: int) -> None:
    """At the end of the run, once every hold the fans walked away from has lapsed (the last
    phase's may need a few more seconds), read each one back through the API."""
    latest = max((held_until for r in results for _, _, held_until in r.journal.abandoned), default=0.0)
    wait = min(float(hold_seconds), latest + 1.5 - time.time())
    if wait > 0:
        await asyncio.sleep(wait)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{stack.port}", timeout=CLIENT_TIMEOUT) as http:
        for result in results:
            result.expired_checked, result.expired_read_held = await expired_holds_read_held(
                http, result.fans, result.journal.abandoned
            )

"""``python -m bench`` / ``make bench``: measure the floor ``F_http`` (a bare Litestar app on the
same granian setup), run every workload against the service started production-style, check the
invariants through the database, print the tables and write the markdown report and plots to
``bench/results/<timestamp>/``. The read path is judged as ratios to the floor of the same run."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import floor_app
from bench.burst import (
    BURST_SIZES,
    SEVERAL_SEAT_SIZES,
    SEVERAL_SEATS,
    BurstBlock,
    BurstContext,
    burst_table,
    plan,
    run_bursts,
    several_seat_table,
)
from bench.client import Pool, Recorder
from bench.fairness import FairnessOptions, FairnessRow, fairness_lines, fairness_phase
from bench.fixtures import create_fans
from bench.flood import SCENARIOS, FloodResult, flood_scenario, flood_section, measure_hash_rate
from bench.floor_app import FloorServer
from bench.loadgen import Generator, LoadResult, PythonClient, pick_generator
from bench.report import (
    cpu_rows,
    cpu_table,
    generator_line,
    load_table,
    plots,
    read_path_table,
    table,
    verdict,
    write_targets_table,
)
from bench.repository import BenchRepository
from bench.server import ServiceUnderTest
from bench.speed import OpeningSecond, PaymentBaseline, opening_second, statement_baseline
from bench.workloads import (
    GATED_JOINS,
    HOST,
    READ_PATH_P99_LIMIT,
    READ_PATH_TARGETS,
    VENUE_TARGETS,
    WRITE_TARGETS,
    SaleOutcome,
    StrategyRun,
    Target,
    VenueResults,
    admitted_tokens,
    create_sale,
    endpoint_workloads,
    flash_sale,
    issue_fans_for,
    strategy_workloads,
    token_issue_workloads,
    venue_workloads,
)
from ticketing.cli import migrate
from ticketing.config import PROJECT_ROOT, Settings
from ticketing.container import Services, build_services
from ticketing.devservers.embedded import EmbeddedServers, postgres_bin_dir
from ticketing.kernel.db import create_pool
from ticketing.kernel.locking import SEAT_LOCK_STRATEGIES
from ticketing.kernel.redis import RedisClient, create_redis


@dataclass
class BenchOptions:
    duration: float = 10.0
    connections: int = 64
    fans: int = 2_000  # per-endpoint and per-strategy fan count
    sale_fans: int = 10_000
    sale_dates: int = 3
    sale_seats: int = 50
    sale_time_limit: float = 180.0
    strategies: tuple[str, ...] = SEAT_LOCK_STRATEGIES
    issue_fans: int | None = None  # fans for token issue, one per request; None: issue_fans_for(duration)
    flood_seconds: float = 6.0  # each attack of the sign-in flood
    flood_only: bool = False  # phase 4 alone (python -m bench --flood-only)
    bursts: int = 10  # recorded bursts per strategy and size (each on a fresh seat), plus one warm-up
    burst_sizes: tuple[int, ...] = BURST_SIZES
    several_seat_sizes: tuple[int, ...] = SEVERAL_SEAT_SIZES  # the several-seat burst's N
    burst_only: bool = False  # the lock study's burst alone (python -m bench --burst-only)
    fairness: FairnessOptions = field(default_factory=FairnessOptions)  # fairness under bots (phase 3b)
    fairness_only: bool = False  # phase 3b alone (python -m bench --fairness-only)
    venues_only: bool = False  # the venue phase alone (python -m bench --venues-only)
    sell_through_zones: int = 60  # the sell-through date's zones of 1,000 seats (its first and last 1 %)
    opening_fans: int = 20_000  # fans of the opening second, one join each
    speed_only: bool = False  # the floor, token issue, the opening second, hold race and payments only
    out_dir: Path = PROJECT_ROOT / "bench" / "results"

    @classmethod
    def smoke(cls) -> BenchOptions:
        return cls(
            duration=1.5,
            connections=16,
            fans=150,
            sale_fans=300,
            sale_dates=1,
            sale_seats=30,
            sale_time_limit=45,
            issue_fans=15_000,
            flood_seconds=2.0,
            bursts=2,
            burst_sizes=(16,),
            several_seat_sizes=(16,),
            fairness=FairnessOptions.smoke(),
            sell_through_zones=6,
            opening_fans=2_000,
        )


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _fresh_database(url: str) -> str:
    name = f"ticketing_bench_{int(time.time())}"
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(_plain(url))._replace(path=f"/{name}"))


def pgbench(database_url: str, seconds: int) -> str:
    binary = postgres_bin_dir() / "pgbench"
    if not binary.exists():
        return "pgbench not available"
    url = _plain(database_url)
    subprocess.run([str(binary), "-i", "-s", "1", "-q", url], check=True, capture_output=True)
    result = subprocess.run(
        [str(binary), "-S", "-n", "-c", "16", "-j", "2", "-T", str(seconds), url],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    return (
        f"{float(match.group(1)):,.0f} read-only transactions/s (pgbench -S -c 16, {seconds} s)" if match else "failed"
    )


def redis_benchmark(redis_url: str) -> str:
    binary = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if binary is None:
        return "redis-benchmark not installed (apt-get install redis-tools)"
    parts = urlsplit(redis_url)
    result = subprocess.run(
        [binary, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379), "-t", "get,set", "-n", "100000",
         "-c", "64", "-q"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    figures = re.findall(r"(GET|SET): ([\d.]+) requests per second", result.stdout)
    return ", ".join(f"{op} {float(rps):,.0f}/s" for op, rps in figures) or "failed"


async def run_bench(options: BenchOptions) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = options.out_dir / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="ticketing-bench-"))
    embedded = EmbeddedServers(work_dir / "servers", durable=True)
    base_db, redis_url = embedded.start(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"))
    database_url = await _fresh_database(base_db)
    print(f"bench: PostgreSQL {database_url}  Redis {redis_url}  ({os.cpu_count()} cores)", flush=True)
    await asyncio.to_thread(migrate, database_url)  # alembic runs its own event loop
    # The runner's own connections only prepare data and check invariants.
    settings = Settings(env="local", database_url=database_url, redis_url=redis_url, data_dir=work_dir, db_pool_size=4)
    pool, redis = await create_pool(settings), create_redis(settings)
    await redis.flushdb()  # queue keys are per concert id, and ids restart in the fresh database
    services = build_services(settings, pool, redis)
    service = ServiceUnderTest(database_url, redis_url, work_dir)
    floor = FloorServer(work_dir)
    generator = PythonClient() if options.fairness_only else pick_generator(work_dir)  # 3b: no wrk
    lines: list[str] = []
    try:
        if options.flood_only:
            target = Target(service.port, options.connections, options.duration, generator, service)
            lines += _flood_lines(await _sign_in_flood(options, services, service, target))
            exit_code = 0
        elif options.fairness_only:
            target = Target(service.port, options.connections, options.duration, generator, service)
            exit_code = await _fairness_only(options, services, service, target, lines)
        elif options.venues_only:
            exit_code = await _venues_only(options, services, service, floor, generator, lines)
        elif options.speed_only:
            exit_code = await _speed_only(options, services, service, floor, generator, lines, database_url)
        elif options.burst_only:
            target = Target(service.port, options.connections, options.duration, generator, service)
            blocks = await _burst_phase(options, services, service, target, redis, base_db, database_url)
            lines += _burst_lines(options, blocks)
            print("\n".join(lines), flush=True)
            exit_code = 0 if all(block.ok for block in blocks) else 1
        else:
            floors = await _measure_floor(options, floor, generator)
            exit_code = await _run_phases(
                options,
                services,
                service,
                floor,
                generator,
                floors,
                lines,
                database_url,
                redis_url,
                out_dir,
                (redis, base_db),
            )
    finally:
        floor.stop()
        service.stop()
        await redis.aclose()
        await pool.close()
        embedded.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    report = out_dir / "report.md"
    report.write_text("\n".join(lines) + "\n")
    print(f"\nreport: {report}", flush=True)
    return exit_code


@dataclass
class Floors:
    """F_http by the chosen generator before and after the read path (the higher of the two is
    F_http, so that noise on a shared machine cannot make a target easier), and by the Python
    client on the same floor: the load generator's own ceiling."""

    before: LoadResult
    python: LoadResult
    workers: int
    after: LoadResult | None = None

    @property
    def main(self) -> LoadResult:
        return max([self.before, *([self.after] if self.after else [])], key=lambda r: r.throughput)

    @property
    def results(self) -> list[LoadResult]:
        found = [self.before, *([self.after] if self.after else [])]
        return found if self.python is self.before else [*found, self.python]


async def _measure_floor(options: BenchOptions, floor: FloorServer, generator: Generator) -> Floors:
    """Start the floor app (it stays up, idle, until the read path has been measured) and
    measure it with the generator and with the Python client."""
    print(
        f"phase 0: the floor F_http (bare Litestar app, granian, {floor.workers} workers, as `ticketing serve`)",
        flush=True,
    )
    floor.start()
    target = Target(floor.port, options.connections, options.duration, generator, floor)
    request = [target.get(floor_app.PATH)]
    await target.warm_up(request)
    before = await target.drive("F_http, before the read path", request)
    if isinstance(generator, PythonClient):
        return Floors(before, before, floor.workers)
    python = Target(floor.port, options.connections, options.duration, PythonClient(), floor)
    return Floors(before, await python.drive("F_http, Python client", request), floor.workers)


async def _measure_floor_again(options: BenchOptions, floor: FloorServer, generator: Generator) -> LoadResult:
    target = Target(floor.port, options.connections, options.duration, generator, floor)
    try:
        return await target.drive("F_http, after the read path", [target.get(floor_app.PATH)])
    finally:
        floor.stop()


def _read_path_summary(read_path: list[LoadResult], floor: LoadResult) -> list[str]:
    """The lines printed loudly for every read-path workload short of its target."""
    out = []
    for result in read_path:
        passed, why = verdict(result, floor, READ_PATH_TARGETS[result.name], READ_PATH_P99_LIMIT)
        if not passed:
            out.append(f"SHORT  {result.name}: {why}")
    return out


async def _baselines_and_endpoints(
    services: Services, target: Target, fans: int, issue_fans: int, gate_on: Callable[[], Awaitable[None]]
) -> tuple[list[LoadResult], list[tuple[LoadResult, LoadResult | None]]]:
    """The baselines through the service stack and the per-endpoint workloads: the read path, and
    every row of the detail table with the baseline it is compared with."""
    await target.warm_up([target.get("/bench/constant")])
    constant = await target.drive("baseline: constant", [target.get("/bench/constant")])
    one_pg = await target.drive("baseline: one PostgreSQL query", [target.get("/bench/pg")])
    one_redis = await target.drive("baseline: one Redis command", [target.get("/bench/redis")])
    endpoints = await endpoint_workloads(services, target, fans, issue_fans, gate_on)
    uses_redis = {"token issue", "token issue, proof-of-work on", "token poll"}
    rows: list[tuple[LoadResult, LoadResult | None]] = [
        (constant, None),
        (one_pg, constant),
        (one_redis, constant),
        *[
            (r, None if r.name == "healthz" else one_redis if r.name in uses_redis else one_pg)
            for r in endpoints.read_path
        ],
        *[(r, one_pg) for r in endpoints.charges],
    ]
    return endpoints.read_path, rows


def _read_path_section(options: BenchOptions, floors: Floors, read_table: str, shorts: list[str]) -> list[str]:
    f_http, cores = floors.main, os.cpu_count() or 1
    return [
        "## Read path against the floor",
        "",
        f"F_http: a bare Litestar app (one handler returning a constant small JSON object; no middleware, no "
        f"dependency injection, none of our exception handlers) on granian with the options of `ticketing serve` "
        f"({floors.workers} workers, ASGI, uvloop), hit by the same generator with the same {options.connections} "
        f"connections, before and after the read path: {floors.before.throughput:,.0f} and "
        f"{(floors.after or f_http).throughput:,.0f} req/s; F_http is the higher, "
        f"{f_http.throughput:,.0f} req/s (p99 {f_http.p99 * 1000:.1f} ms). PASS needs the ratio, "
        f"p99 ≤ {READ_PATH_P99_LIMIT * 1000:.0f} ms and no error; a SHORT is a measurement, not a failed run.",
        "",
        read_table,
        "",
        *([f"**{line}**" for line in shorts] or ["All read-path targets met."]),
        "",
        generator_line(floors.main, floors.python, cores),
        "",
    ]


async def _endpoint_phase(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    target: Target,
    open_queue: dict[str, int],
    issue_fans: int,
) -> tuple[list[LoadResult], list[tuple[LoadResult, LoadResult | None]], VenueResults]:
    """Phase 1: the baselines, the per-endpoint workloads (token issue also with the
    proof-of-work gate on) and the seat map of a 60,000-seat date."""
    print("phase 1: baselines and per-endpoint workloads", flush=True)
    service.start(**open_queue)

    async def gate_on() -> None:
        service.start(**open_queue, **GATED_JOINS)

    read_path, service_rows = await _baselines_and_endpoints(services, target, options.fans, issue_fans, gate_on)
    venues = await _venue_phase(options, services, service, target, open_queue)
    return read_path, service_rows, venues


# The opening second as production runs a sale: its queue settings, the per-account join limit and
# the proof-of-work gate on for every join (a crowd this size is past TICKETING_CHALLENGE_JOIN_WAITING
# within its first milliseconds).
OPENING_SETTINGS: dict[str, object] = {
    **GATED_JOINS,
    "rate_limit_queue_join_per_account": Settings.model_fields["rate_limit_queue_join_per_account"].default,
}


async def _opening_phase(
    options: BenchOptions, services: Services, service: ServiceUnderTest, target: Target
) -> OpeningSecond:
    print(f"phase 1c: the opening second ({options.opening_fans:,} fans, proof-of-work on)", flush=True)
    service.start(**OPENING_SETTINGS)
    await target.warm_up([target.get("/healthz")])
    return await opening_second(services, target, options.opening_fans, gated=True)


def _opening_lines(opening: OpeningSecond) -> list[str]:
    return [
        "## The opening second",
        "",
        f'{opening.fans:,} fans press "join" once each, their presses spread evenly over one second (an open '
        "loop: nobody waits for the others' answers), every join with a solution of the proof-of-work challenge "
        "and production's queue settings and per-account join limit. A fan's time runs from its own press, "
        "the wait for one of the shared keep-alive connections included. The fans are the Python client, on the "
        "same 2 cores as the service.",
        "",
        opening.table(),
        "",
    ]


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in averages)


def _cpu_lines(floor: LoadResult, loads: list[LoadResult], recorders: list[Recorder]) -> list[str]:
    table_text = cpu_table(cpu_rows(loads, recorders), floor)
    print("\nServer CPU per request against the floor's (same run):\n" + table_text, flush=True)
    return [
        "## CPU per request",
        "",
        "The service's processes (granian and its workers: user + system time from /proc, before and after each "
        "workload) per answered request, and the floor's over ours (`x floor`, 1.00: as cheap as the bare app). "
        "Other load on the machine moves a rate, but hardly the CPU a request costs: changes are judged by this.",
        "",
        table_text,
        "",
    ]


def _payment_lines(baseline: PaymentBaseline | None) -> list[str]:
    if baseline is None:
        return []
    return [
        "## Payment against the database",
        "",
        f"The payment statement of `PaymentRepository.settle` sent by asyncpg straight to PostgreSQL (no HTTP, no "
        f"service code; each statement its own transaction), {len(baseline.statement.latencies):,} live holds "
        f"paid by as many callers at once as the HTTP payment had connections, over {baseline.connections} "
        "database connections (the service's pools together); then payment over HTTP as a ratio of it.",
        "",
        baseline.table(),
        "",
    ]


async def _flash_sale_phase(
    options: BenchOptions, services: Services, service: ServiceUnderTest, target: Target
) -> SaleOutcome:
    """Phase 3: a flash sale as production admits it (admission by seats left included)."""
    print("phase 3: flash sale", flush=True)
    service.start(
        queue_max_active=max(50, options.sale_seats * options.sale_dates // 2),
        queue_admit_per_second=500,
        queue_active_ttl_seconds=30,
        hold_seconds=10,
    )
    return await flash_sale(
        services, target, options.sale_fans, options.sale_dates, options.sale_seats, options.sale_time_limit
    )


async def _venue_phase(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    target: Target,
    open_queue: dict[str, int],
) -> VenueResults:
    """The endpoint workloads end with the proof-of-work gate on for every join: the venue phase's
    fans join as the others do, so the service is started again without it."""
    service.start(**open_queue)
    await target.warm_up([target.get("/healthz")])
    return await venue_workloads(services, target, min(options.fans, 1_000), options.sell_through_zones)


async def _run_phases(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    floor: FloorServer,
    generator: Generator,
    floors: Floors,
    lines: list[str],
    database_url: str,
    redis_url: str,
    out_dir: Path,
    burst_servers: tuple[RedisClient, str],
) -> int:
    started, load_at_start = time.perf_counter(), os.getloadavg()
    target = Target(service.port, options.connections, options.duration, generator, service)
    # The endpoint and strategy workloads admit thousands of fans to a few hundred seats: the
    # queue is opened wide, and admission by seats left (what the flash sale and the fairness
    # phase measure) is turned off for them.
    open_queue = {"queue_max_active": 1_000_000, "queue_admit_per_second": 100_000, "queue_admit_by_inventory": False}

    issue_fans = options.issue_fans or issue_fans_for(options.duration)
    read_path, service_rows, venues = await _endpoint_phase(options, services, service, target, open_queue, issue_fans)
    opening = await _opening_phase(options, services, service, target)
    floors.after = await _measure_floor_again(options, floor, generator)
    f_http = floors.main
    load_rows: list[tuple[LoadResult, LoadResult | None]] = [(r, None) for r in floors.results] + service_rows
    load_rows += [(r, None) for r in venues.loads]
    venue_table = read_path_table(venues.loads, f_http, VENUE_TARGETS, READ_PATH_P99_LIMIT)
    print("\nSeat map of a 60,000-seat date against the floor (same run):\n" + venue_table, flush=True)
    read_table = read_path_table(read_path, f_http, READ_PATH_TARGETS, READ_PATH_P99_LIMIT)
    shorts = _read_path_summary(read_path, f_http)
    print("\nRead path against the floor (same run):\n" + read_table, flush=True)
    print("\n".join(f"!!! {line}" for line in shorts) or "all read-path targets met", flush=True)

    strategy_rows, default_hold, payment_baseline = await _strategy_phase(
        options, services, service, target, open_queue, database_url
    )

    write_table, write_shorts = _write_targets(options, f_http, service_rows, strategy_rows, default_hold)
    if default_hold is not None:
        load_rows.append((default_hold, None))

    redis, maintenance_url = burst_servers
    blocks = await _burst_phase(options, services, service, target, redis, maintenance_url, database_url)

    sale = await _flash_sale_phase(options, services, service, target)

    fairness = await fairness_phase(services, service, target, options.fairness)

    flood = await _sign_in_flood(options, services, service, target)

    print("invariants and machine baselines", flush=True)
    async with services.uow() as uow:
        violations = await uow.repo(BenchRepository).invariant_violations()
    pg_figure = pgbench(database_url, seconds=max(2, int(options.duration)))
    redis_figure = redis_benchmark(redis_url)

    all_recorders: list[Recorder] = []
    for _, hold, payment, _ in strategy_rows:
        all_recorders += [hold, payment]
    all_recorders += [r for r in sale.steps.values() if r.count]
    all_loads = [result for result, _ in load_rows]
    plot_files = plots(all_recorders, out_dir)
    cores = os.cpu_count() or 1

    lines += [
        f"# Benchmark report — {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Machine: {cores} cores; the load generator runs beside the server. Service: granian, "
        f"one worker per core. {options.connections} connections, {options.duration:g} s per workload "
        f"(wrk: whole seconds), {options.fans:,} fans per phase, {issue_fans:,} new fans for token issue. "
        f"Total bench time {time.perf_counter() - started:,.0f} s. Load average (1, 5, 15 min) at the start "
        f"{_load(load_at_start)}, at the end {_load(os.getloadavg())}: other load on the machine moves every "
        "rate here; the CPU per request below hardly.",
        "",
        *_read_path_section(options, floors, read_table, shorts),
        f"Machine limits measured in the same run: PostgreSQL {pg_figure}; Redis {redis_figure}.",
        "",
        *_opening_lines(opening),
        *_cpu_lines(f_http, all_loads, all_recorders),
        "## Venues: the seat map of a 60,000-seat date",
        "",
        venue_table,
        "",
        *venues.lines,
        "",
        "## Floor, baselines (same server stack) and per-endpoint workloads",
        "",
        load_table(load_rows, f_http),
        "",
        "## Write path against the floor",
        "",
        f"The write targets as ratios to F_http ({f_http.throughput:,.0f} req/s, same run), "
        f"{options.connections} connections, under the default seat lock strategy "
        f"`{_default_strategy(options)}`. Charges and the hold race are driven by the generator above (the "
        "hold race's pre-built requests, once the race's seats are taken, as they are a moment into it); the "
        "payment of prepared holds by the Python client (each request is sent once). A SHORT is a "
        "measurement, not a failed run.",
        "",
        write_table,
        "",
        *([f"**{line}**" for line in write_shorts] or ["All write targets met."]),
        "",
        *_payment_lines(payment_baseline),
        "## Lock strategies (`TICKETING_SEAT_LOCK_STRATEGY`)",
        "",
        "Hold race: every fan holds a random one of 50 seats (all but the first taker of each seat get 409). "
        "Payment: each fan pays one prepared hold, all at once.",
        "",
        "| strategy | hold req/s | hold p99 ms | hold 409s | payment req/s | payment p99 ms | payments ok | "
        "deadlocks | double bookings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    double_bookings = violations["seats with more than one live reservation"]
    for strategy, hold, payment, deadlocks in strategy_rows:
        lines.append(
            f"| {strategy} | {hold.throughput:,.0f} | {hold.percentile(0.99) * 1000:.1f} | "
            f"{hold.count - hold.codes['OK']:,} | {payment.throughput:,.0f} | {payment.percentile(0.99) * 1000:.1f} | "
            f"{payment.codes['OK']:,} | {deadlocks} | {double_bookings} |"
        )
    lines += [
        "",
        "Detail:",
        "",
        table([(r, None) for _, hold, payment, _ in strategy_rows for r in (hold, payment)]),
        "",
        *_burst_lines(options, blocks),
        "## Flash sale",
        "",
        f"{sale.fans:,} fans arrived at once for {sale.seats} seats. In {sale.seconds:,.1f} s: {sale.bought} bought a "
        f"seat, {sale.abandoned} abandoned a hold, {sale.sold_out_seen} found no seat left "
        "(SOLD_OUT, or every remaining seat held), "
        f"{sale.gave_up} gave up (time limit or no seat after 5 tries).",
        "",
        table([(r, None) for r in sale.steps.values() if r.count]),
        "",
        *fairness_lines(fairness, options.fairness),
        *_flood_lines(flood),
        "## Invariants (through the database)",
        "",
        *[f"- {'OK ' if n == 0 else 'VIOLATED'} {name}: {n}" for name, n in violations.items()],
        "",
        "## Plots",
        "",
        *[f"![{p.stem}]({p.name})" for p in plot_files],
    ]
    print("\n".join(lines), flush=True)
    server_errors = sum(r.server_errors for r in all_recorders) + sum(r.server_errors for r in all_loads)
    server_errors += sum(row.server_errors for row in fairness) + opening.server_errors
    if _fairness_violated(fairness):
        return 1
    if not all(block.ok for block in blocks):
        print(
            "\nBURST INVARIANT VIOLATED (a burst without exactly one winner, a double hold, or part of a hold)",
            flush=True,
        )
        return 1
    return _exit_code(shorts, violations, server_errors)


async def _strategy_phase(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    target: Target,
    open_queue: dict[str, int],
    database_url: str,
) -> tuple[list[tuple[str, Recorder, Recorder, int]], LoadResult | None, PaymentBaseline | None]:
    """Hold race and payment per lock strategy (a server of its own each); the default strategy's
    hold race is also driven by the run's generator (the write target's figure), and its payment
    is compared with the payment statement alone (``bench/speed.py``)."""
    print("phase 2: lock strategies (hold under contention, payment)", flush=True)
    strategy_rows: list[tuple[str, Recorder, Recorder, int]] = []
    default_hold: LoadResult | None = None
    baseline: PaymentBaseline | None = None
    for strategy in options.strategies:
        service.start(seat_lock_strategy=strategy, **open_queue)
        async with services.uow() as uow:
            deadlocks_before = await uow.repo(BenchRepository).deadlocks()
        is_default = strategy == _default_strategy(options)
        run = await strategy_workloads(services, target, options.fans, strategy, with_generator=is_default)
        default_hold = run.hold_load or default_hold
        if run.statement_payments:
            baseline = await _payment_baseline(options, database_url, run)
        async with services.uow() as uow:
            deadlocks = await uow.repo(BenchRepository).deadlocks() - deadlocks_before
        strategy_rows.append((strategy, run.hold, run.payment, deadlocks))

    return strategy_rows, default_hold, baseline


async def _payment_baseline(options: BenchOptions, database_url: str, run: StrategyRun) -> PaymentBaseline:
    """The payment statement alone, as many callers as the HTTP payment had connections, over as
    many database connections as the service's pools hold together (its workers' pools)."""
    connections = floor_app.default_workers() * int(Settings.model_fields["db_pool_size"].default)
    statement = await statement_baseline(_plain(database_url), run.statement_payments, options.connections, connections)
    return PaymentBaseline(run.payment, statement, connections)


def _default_strategy(options: BenchOptions) -> str:
    default = str(Settings.model_fields["seat_lock_strategy"].default)
    return default if default in options.strategies else options.strategies[0]


def _write_targets(
    options: BenchOptions,
    f_http: LoadResult,
    service_rows: list[tuple[LoadResult, LoadResult | None]],
    strategy_rows: list[tuple[str, Recorder, Recorder, int]],
    generator_hold: LoadResult | None,
) -> tuple[str, list[str]]:
    charges = {result.name: result for result, _ in service_rows if result.name.startswith("charge")}
    default = _default_strategy(options)
    [(hold, payment)] = [(hold, payment) for strategy, hold, payment, _ in strategy_rows if strategy == default]
    hold_row = (
        ("hold race", generator_hold.throughput, generator_hold.p99, generator_hold.server_errors)
        if generator_hold is not None
        else ("hold race", hold.throughput, hold.percentile(0.99), hold.server_errors)
    )
    rows = [
        hold_row,
        *[(name, charges[name].throughput, charges[name].p99, charges[name].server_errors) for name in charges],
        ("payment", payment.throughput, payment.percentile(0.99), payment.server_errors),
    ]
    write_table, shorts = write_targets_table(rows, f_http, WRITE_TARGETS)
    print("\nWrite path against the floor (same run):\n" + write_table, flush=True)
    print("\n".join(f"!!! {line}" for line in shorts) or "all write targets met", flush=True)
    return write_table, shorts


async def _burst_phase(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    target: Target,
    redis: RedisClient,
    maintenance_url: str,
    database_url: str,
) -> list[BurstBlock]:
    """The lock study's bursts (bench/burst.py): one seat per hold, then several seats per hold.
    One concert, fresh seats for every burst, fans admitted once; then per block
    a service of its own without background jobs."""
    blocks = plan(options.strategies, options.burst_sizes) + plan(
        options.strategies, options.several_seat_sizes, SEVERAL_SEATS
    )
    print(
        f"phase 2b: lock strategies under a burst (one seat per hold: N = {_sizes(options.burst_sizes)}; several "
        f"seats per hold: N = {_sizes(options.several_seat_sizes)})",
        flush=True,
    )
    if not blocks:
        return []
    size = max(block.fans for block in blocks)
    seats = sum(block.shape.group for block in blocks) * (options.bursts + 1)
    fans = await create_fans(services, size, balance=1_000_000)
    concert_id, _, seat_ids = await create_sale(services, "bench: burst", dates=1, seats=seats, price=10_000)
    # Tokens stay admitted for the whole phase; every winner keeps its hold (the caps are lifted:
    # the per-user hold cap and the per-fan ticket limit of the date, since a fan who wins several
    # bursts holds several seats of the one date; the bursts measure the seat locks, not the caps).
    settings: dict[str, object] = {
        "queue_max_active": 1_000_000,
        "queue_admit_per_second": 100_000,
        "queue_active_ttl_seconds": 6 * 3600,
        "queue_admit_by_inventory": False,  # N fans race for one seat: all of them admitted
        "max_holds_per_user": 1_000_000,
        "max_tickets_per_fan": 1_000_000,
    }
    service.start(**settings)
    pool = Pool(HOST, target.port, min(64, size))
    await pool.open()
    tokens = await admitted_tokens(target, pool, fans, concert_id)
    pool.close()
    service.stop()
    context = BurstContext(
        services=services,
        service=service,
        target=target,
        redis=redis,
        maintenance_url=_plain(maintenance_url),
        database=urlsplit(_plain(database_url)).path.lstrip("/"),
        settings={**settings, "run_jobs_in_server": False},  # nothing but the bursts counts
        fans=fans,
        tokens=tokens,
        seat_ids=seat_ids[0],
    )
    return await run_bursts(context, blocks, options.bursts)


async def _phase_alone(
    services: Services, title: str, run: Callable[[], Awaitable[tuple[list[str], bool, int]]], lines: list[str]
) -> int:
    """``python -m bench --fairness-only`` / ``--venues-only``: one phase and the invariants.
    ``run`` gives the phase's report lines, whether it failed outright, and its 5xx count."""
    phase_lines, failed, server_errors = await run()
    async with services.uow() as uow:
        violations = await uow.repo(BenchRepository).invariant_violations()
    lines += [
        f"# {title} — {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        *phase_lines,
        "",
        "## Invariants (through the database)",
        "",
        *[f"- {'OK ' if n == 0 else 'VIOLATED'} {name}: {n}" for name, n in violations.items()],
        "",
    ]
    print("\n".join(lines), flush=True)
    return 1 if failed else _exit_code([], violations, server_errors)


async def _speed_only(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    floor: FloorServer,
    generator: Generator,
    lines: list[str],
    database_url: str,
) -> int:
    """``python -m bench --speed-only``: the rows of the second speed round (token issue with and
    without the proof-of-work gate, the opening second, the hold race and the payment against its
    statement) between two floors, with the CPU per request of each: a run of minutes, for A/B."""
    load = os.getloadavg()
    floors = await _measure_floor(options, floor, generator)
    target = Target(service.port, options.connections, options.duration, generator, service)
    open_queue = {"queue_max_active": 1_000_000, "queue_admit_per_second": 100_000, "queue_admit_by_inventory": False}
    service.start(**open_queue)
    await target.warm_up([target.get("/healthz")])

    async def gate_on() -> None:
        service.start(**open_queue, **GATED_JOINS)

    issue = await token_issue_workloads(
        services, target, options.issue_fans or issue_fans_for(options.duration), gate_on
    )
    opening = await _opening_phase(options, services, service, target)
    default = (_default_strategy(options),)
    strategy_rows, hold, baseline = await _strategy_phase(
        replace(options, strategies=default), services, service, target, open_queue, database_url
    )
    floors.after = await _measure_floor_again(options, floor, generator)
    f_http = floors.main
    read_table = read_path_table(list(issue.values()), f_http, READ_PATH_TARGETS, READ_PATH_P99_LIMIT)
    write_table, _ = _write_targets(options, f_http, [], strategy_rows, hold)
    [(_, hold_recorder, payment, _)] = strategy_rows
    loads = [*floors.results, *issue.values(), *([hold] if hold else [])]
    lines += [
        f"# Speed rows — {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Load average before / after: {_load(load)} / {_load(os.getloadavg())}; "
        f"F_http {f_http.throughput:,.0f} req/s.",
        "",
        read_table,
        "",
        write_table,
        "",
        *_opening_lines(opening),
        *_payment_lines(baseline),
        *_cpu_lines(f_http, loads, [hold_recorder, payment]),
    ]
    print("\n".join(lines), flush=True)
    server_errors = sum(r.server_errors for r in loads) + payment.server_errors + opening.server_errors
    return _exit_code([], {}, server_errors)


async def _fairness_only(
    options: BenchOptions, services: Services, service: ServiceUnderTest, target: Target, lines: list[str]
) -> int:
    """Phase 3b and the invariants, nothing else."""

    async def run() -> tuple[list[str], bool, int]:
        rows = await fairness_phase(services, service, target, options.fairness)
        return fairness_lines(rows, options.fairness), _fairness_violated(rows), sum(r.server_errors for r in rows)

    return await _phase_alone(services, "Fairness under bots", run, lines)


async def _venues_only(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    floor: FloorServer,
    generator: Generator,
    lines: list[str],
) -> int:
    """The venue phase (the 60,000-seat date and its sell-through) and the invariants, with
    F_http measured just before it (the targets are ratios to it) and the service's CPU time
    per request (a figure other load on the machine moves far less)."""
    open_queue = {"queue_max_active": 1_000_000, "queue_admit_per_second": 100_000, "queue_admit_by_inventory": False}
    floors = await _measure_floor(options, floor, generator)
    floor.stop()
    target = Target(service.port, options.connections, options.duration, generator, service)

    async def run() -> tuple[list[str], bool, int]:
        venues = await _venue_phase(options, services, service, target, open_queue)
        f_http = floors.before
        table = read_path_table(venues.loads, f_http, VENUE_TARGETS, READ_PATH_P99_LIMIT)
        cpu = [
            f"- {load.name}: {load.server_cpu_per_request_us:,.0f} us of server CPU per request"
            for load in venues.loads
            if load.server_cpu_per_request_us is not None
        ]
        return (
            [f"F_http {f_http.throughput:,.0f} req/s ({f_http.generator}).", "", table, "", *cpu, "", *venues.lines],
            False,
            0,
        )

    return await _phase_alone(services, "Venues", run, lines)


def _fairness_violated(rows: list[FairnessRow]) -> bool:
    """A sale whose seat holders are not its payers, or a client with two seats, fails the run;
    so does a sale whose clients were not all in the pre-queue (it measured something else)."""
    found = [violation for row in rows for violation in row.violations]
    if found:
        print("\nFAIRNESS SALE INVARIANT VIOLATED: " + "; ".join(found), flush=True)
    return bool(found)


def _sizes(sizes: tuple[int, ...]) -> str:
    return ", ".join(map(str, sizes)) or "none"


def _burst_lines(options: BenchOptions, blocks: list[BurstBlock]) -> list[str]:
    one_seat = [block for block in blocks if not block.shape.several]
    several = [block for block in blocks if block.shape.several]
    lines = ["## Lock strategies under a burst", ""]
    if one_seat:
        lines += [
            f"For each of {options.bursts} fresh seats per row (plus one warm-up burst, counted by the database and "
            "Redis but not timed), N fans fire a hold at the same free seat at the same instant (N prepared "
            "keep-alive connections; the requests written back to back). Times from the barrier's opening. "
            "Transactions, row-lock wait (waiting backends in `pg_locks`, sampled every ~2 ms, integrated over "
            "time) and Redis commands are per burst, a bare service start and stop subtracted; deadlocks, "
            "refusals and double holds are totals. Refusals by place: the unlocked first read, the Redis lock, "
            "the check under the lock, the partial unique index; 503: a retry was "
            "asked for (deadlock retries exhausted, lock or pool timeout). A burst with two winners, or a double "
            "hold, fails the run, and so does a burst without a winner (the seat left unsold). A row stops "
            "after 20 s once it has 3 bursts.",
            "",
            burst_table(one_seat),
            "",
        ]
    if several:
        lines += [
            "### Several seats per hold",
            "",
            f"For each of {options.bursts} fresh groups of {SEVERAL_SEATS.group} adjacent seats per row (plus a "
            "warm-up), N fans each fire at the same instant a hold of "
            f"{' or '.join(map(str, SEVERAL_SEATS.per_hold))} of the group's seats, listed in a random order "
            "(seeded by N: every strategy gets the same holds); `hold_seats` takes the Redis locks and the row "
            "locks by ascending seat id whatever that order. A deadlock's "
            "victim is rolled back and run again by `retry_on_conflict`: retried transactions are the deadlocks "
            "less the victims on their third attempt (answered 503, retries exhausted); the 503s by cause come "
            "from their problem title. Settle: from the barrier to the burst's last answer. A seat held twice, or "
            "a hold that got part of its seats (or an answer the database contradicts), fails the run; a burst "
            "without a winner (every fan refused by another's lock, the seats left on sale) is counted. A row "
            "stops after 20 s once it has 3 bursts.",
            "",
            several_seat_table(several),
            "",
        ]
    return lines


# The sign-in settings as production runs them (the settings' defaults), for the flood phase.
PRODUCTION_SIGN_IN: dict[str, object] = {
    name: Settings.model_fields[name].default
    for name in (
        "rate_limit_sign_in_per_account",
        "rate_limit_sign_in_per_address",
        "rate_limit_sign_in_failures",
        "password_hash_threads",
        "password_hash_queue",
        "password_hash_per_address",
        "password_hash_nice",
        "challenge_enabled",
        "challenge_max_number",
        "challenge_sign_in_failures",
    )
}
NO_SIGN_IN_LIMITS = {
    "rate_limit_sign_in_per_account": "",
    "rate_limit_sign_in_per_address": "",
    "rate_limit_sign_in_failures": "",
    "challenge_sign_in_failures": "",  # no failure counts without Redis: no challenge either
}


@dataclass
class Flood:
    hash_rate: float
    results: list[FloodResult]


async def _sign_in_flood(options: BenchOptions, services: Services, service: ServiceUnderTest, target: Target) -> Flood:
    """Phase 4: each attack of ``flood.SCENARIOS`` against a service started for it, with the
    production sign-in settings, trusting 127.0.0.1 as its proxy (the bench sends every client's
    address as X-Forwarded-For)."""
    print(f"phase 4: sign-in flood ({len(SCENARIOS)} attacks, production sign-in settings)", flush=True)
    service.stop()
    hash_rate = await asyncio.to_thread(measure_hash_rate)
    print(f"  argon2id at the service's profile: {hash_rate:,.1f} verifications/s on one core", flush=True)
    results = []
    for index, scenario in enumerate(SCENARIOS):
        limits = PRODUCTION_SIGN_IN if scenario.rate_limits else {**PRODUCTION_SIGN_IN, **NO_SIGN_IN_LIMITS}
        service.start(trusted_proxies="127.0.0.1", **limits)
        results.append(await flood_scenario(services, target, scenario, index, options.flood_seconds))
    service.stop()
    return Flood(hash_rate, results)


def _flood_lines(flood: Flood) -> list[str]:
    return flood_section(flood.results, flood.hash_rate, PRODUCTION_SIGN_IN)


def _exit_code(shorts: list[str], violations: dict[str, int], server_errors: int) -> int:
    """A broken invariant, a 5xx or a broken connection fails the run; a SHORT read-path ratio is a
    measurement, printed loudly, and does not."""
    if shorts:
        print("\n" + "\n".join(f"!!! {line}" for line in shorts), flush=True)
        print("!!! (read-path targets are measurements: a SHORT does not fail the run)", flush=True)
    if any(violations.values()):
        print("\nINVARIANT VIOLATED", flush=True)
        return 1
    if server_errors:
        print(f"\n{server_errors} server errors (5xx or broken connections)", flush=True)
        return 1
    return 0


def main(options: BenchOptions) -> int:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    return asyncio.run(run_bench(options))

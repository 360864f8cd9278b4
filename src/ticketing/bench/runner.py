"""``ticketing bench`` / ``make bench``: run every workload against the service started
production-style, check the invariants through the database, print the tables and write the
markdown report and plots to ``bench/results/<timestamp>/``."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ticketing.bench.client import Recorder
from ticketing.bench.report import plots, table
from ticketing.bench.repository import BenchRepository
from ticketing.bench.server import ServiceUnderTest
from ticketing.bench.workloads import Target, endpoint_workloads, flash_sale, strategy_workloads
from ticketing.cli import migrate
from ticketing.config import PROJECT_ROOT, Settings
from ticketing.container import Services, build_services
from ticketing.core.db import create_pool
from ticketing.core.embedded import EmbeddedServers, postgres_bin_dir
from ticketing.core.redis import create_redis

STRATEGIES = ("redis+db", "db", "conditional", "optimistic", "redis", "none")


@dataclass
class BenchOptions:
    duration: float = 10.0
    connections: int = 64
    fans: int = 2_000  # per-endpoint and per-strategy fan count
    sale_fans: int = 10_000
    sale_dates: int = 3
    sale_seats: int = 50
    sale_time_limit: float = 180.0
    strategies: tuple[str, ...] = STRATEGIES
    out_dir: Path = PROJECT_ROOT / "bench" / "results"

    @classmethod
    def smoke(cls) -> BenchOptions:
        return cls(
            duration=1.5, connections=16, fans=150, sale_fans=300, sale_dates=1, sale_seats=30, sale_time_limit=45
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
    lines: list[str] = []
    try:
        exit_code = await _run_phases(options, services, service, lines, database_url, redis_url, out_dir)
    finally:
        service.stop()
        await redis.aclose()
        await pool.close()
        embedded.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    report = out_dir / "report.md"
    report.write_text("\n".join(lines) + "\n")
    print(f"\nreport: {report}", flush=True)
    return exit_code


async def _run_phases(
    options: BenchOptions,
    services: Services,
    service: ServiceUnderTest,
    lines: list[str],
    database_url: str,
    redis_url: str,
    out_dir: Path,
) -> int:
    started = time.perf_counter()
    target = Target(service.port, options.connections, options.duration)
    open_queue = {"queue_max_active": 1_000_000, "queue_admit_per_second": 100_000}

    print("phase 1: baselines and per-endpoint workloads", flush=True)
    service.start(**open_queue)
    constant = await target.loop("baseline: constant", lambda i: target.get("/bench/constant"))
    one_pg = await target.loop("baseline: one PostgreSQL query", lambda i: target.get("/bench/pg"))
    one_redis = await target.loop("baseline: one Redis command", lambda i: target.get("/bench/redis"))
    endpoints = await endpoint_workloads(services, target, options.fans)
    uses_redis = {"token issue", "token poll"}
    endpoint_rows = [(r, one_redis if r.name in uses_redis else one_pg) for r in endpoints]

    print("phase 2: lock strategies (hold under contention, payment)", flush=True)
    strategy_rows: list[tuple[str, Recorder, Recorder, int]] = []
    for strategy in options.strategies:
        service.start(seat_lock_strategy=strategy, **open_queue)
        async with services.uow() as uow:
            deadlocks_before = await BenchRepository(uow.conn).deadlocks()
        hold, payment = await strategy_workloads(services, target, options.fans, strategy)
        async with services.uow() as uow:
            deadlocks = await BenchRepository(uow.conn).deadlocks() - deadlocks_before
        strategy_rows.append((strategy, hold, payment, deadlocks))

    print("phase 3: flash sale", flush=True)
    service.start(
        queue_max_active=max(50, options.sale_seats * options.sale_dates // 2),
        queue_admit_per_second=500,
        queue_active_ttl_seconds=30,
        hold_seconds=10,
    )
    sale = await flash_sale(
        services, target, options.sale_fans, options.sale_dates, options.sale_seats, options.sale_time_limit
    )
    service.stop()

    print("invariants and machine baselines", flush=True)
    async with services.uow() as uow:
        violations = await BenchRepository(uow.conn).invariant_violations()
    pg_figure = pgbench(database_url, seconds=max(2, int(options.duration)))
    redis_figure = redis_benchmark(redis_url)

    all_recorders = [constant, one_pg, one_redis, *endpoints]
    for _, hold, payment, _ in strategy_rows:
        all_recorders += [hold, payment]
    all_recorders += [r for r in sale.steps.values() if r.count]
    plot_files = plots(all_recorders, out_dir)

    lines += [
        f"# Benchmark report — {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"Machine: {os.cpu_count()} cores; the load generator runs beside the server. Service: granian, "
        f"one worker per core. {options.connections} connections, {options.duration:g} s per workload, "
        f"{options.fans:,} fans per phase. Total bench time {time.perf_counter() - started:,.0f} s.",
        "",
        "## Baselines (same server stack) and per-endpoint workloads",
        "",
        table([(constant, None), (one_pg, constant), (one_redis, constant), *endpoint_rows]),
        "",
        f"Machine limits measured in the same run: PostgreSQL {pg_figure}; Redis {redis_figure}.",
        "",
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
        "## Flash sale",
        "",
        f"{sale.fans:,} fans arrived at once for {sale.seats} seats. In {sale.seconds:,.1f} s: {sale.bought} bought a "
        f"seat, {sale.abandoned} abandoned a hold, {sale.sold_out_seen} found no seat left "
        "(SOLD_OUT, or every remaining seat held), "
        f"{sale.gave_up} gave up (time limit or no seat after 5 tries).",
        "",
        table([(r, None) for r in sale.steps.values() if r.count]),
        "",
        "## Invariants (through the database)",
        "",
        *[f"- {'OK ' if n == 0 else 'VIOLATED'} {name}: {n}" for name, n in violations.items()],
        "",
        "## Plots",
        "",
        *[f"![{p.stem}]({p.name})" for p in plot_files],
    ]
    print("\n".join(lines), flush=True)
    server_errors = sum(r.server_errors for r in all_recorders)
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

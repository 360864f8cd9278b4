"""The payment statement alone, measured A/B: ``python -m bench.statement [--b CHANGE]``.

What ``make bench``'s payment baseline does (``bench/speed.py``, ``statement_baseline``: 64
callers over 20 database connections, a fresh pool each run, autocommit), without the service,
the HTTP client or the rest of the bench: an embedded durable PostgreSQL as the bench's, fans
and a three-date sale as the bench's, and one live hold per fan of the third date, written
straight into the tables as the hold's statement leaves them. Each run pays fresh holds. A (the
statement and server as they are, cold connections) and B (one of ``CANDIDATES``) run
interleaved A, B, B, A, ... in one server, so that the machine's load moves both alike. Each
run reports rate, p50, p99, the first 64 answers apart, the CPU time of every PostgreSQL
process per payment, WAL records, bytes and fsyncs per payment, and with ``--sample`` what the
busy backends wait on (``pg_stat_activity`` every 5 ms).

Other modes: ``--serial`` (one connection, its backend's CPU per payment: robust to the
machine's load, for changes of the statement's own work; ``--perf FILE`` records it),
``--probe`` (a fresh connection's CPU time for its first calls, to the nanosecond) and
``--explain`` (pg_waldump of one payment's WAL, then EXPLAIN ANALYZE BUFFERS WAL of three)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

from bench.fixtures import create_fans
from bench.runner import _fresh_database, _plain
from bench.speed import statement_baseline
from bench.workloads import create_sale
from ticketing.cli import migrate
from ticketing.config import Settings
from ticketing.container import Services, build_services
from ticketing.devservers.embedded import EmbeddedServers, postgres_bin_dir
from ticketing.kernel.db import create_pool, warm_connection
from ticketing.kernel.redis import create_redis
from ticketing.payments.repository import SETTLE_ONE, WARM_STATEMENTS

CALLERS = 64  # the HTTP payment's connections in the bench
CONNECTIONS = 20  # the service's pools together: 2 workers x TICKETING_DB_POOL_SIZE 10

WAL_STATS = (
    "SELECT w.wal_records, w.wal_fpi, w.wal_bytes, io.writes, io.fsyncs, io.fsync_time "
    "FROM pg_stat_wal w, (SELECT sum(writes) AS writes, sum(fsyncs) AS fsyncs, sum(fsync_time) AS fsync_time "
    "FROM pg_stat_io WHERE object = 'wal') io"
)


async def wal_stats(conn: asyncpg.Connection) -> list[float]:
    """WAL records, full-page images, bytes, writes, fsyncs and fsync time (ms) so far."""
    row = await conn.fetchrow(WAL_STATS)
    assert row is not None
    return [float(value or 0) for value in row]


@dataclass(frozen=True)
class Variant:
    """SQL run before (``setup``) and after (``teardown``) a run, and whether the pool's
    connections are warmed first (``kernel.db.warm_connection``)."""

    setup: str = ""
    teardown: str = ""
    warm: bool = False
    connections: int = CONNECTIONS  # the pool's size in the concurrent runs


def server_setting(name: str, value: str) -> Variant:
    reload = "SELECT pg_reload_conf(); SELECT pg_sleep(0.3)"
    return Variant(f"ALTER SYSTEM SET {name} = {value}; {reload}", f"ALTER SYSTEM RESET {name}; {reload}")


# What was measured against A (docs/performance.md has the figures): ``--b NAME``.
CANDIDATES: dict[str, Variant] = {
    "same": Variant(),
    "warm": Variant(warm=True),
    # Not a change of the code: what the pool's size (a deployment setting) does, with as many
    # connections as callers (nobody queues for one; PostgreSQL's max_connections is 300).
    "pool_64": Variant(connections=CALLERS),
    "warm_pool_64": Variant(warm=True, connections=CALLERS),
    "commit_delay_100": server_setting("commit_delay", "100"),
    "commit_delay_500": server_setting("commit_delay", "500"),
    # The ticket's user, reservation and seat are its payment's (one statement writes both):
    # their foreign keys check again what the payment's own keys checked.
    "no_ticket_copy_fks": Variant(
        "ALTER TABLE tickets DROP CONSTRAINT fk_tickets_user_id_users, "
        "DROP CONSTRAINT fk_tickets_reservation_id_reservations, DROP CONSTRAINT fk_tickets_seat_id_seats",
        "ALTER TABLE tickets "
        "ADD CONSTRAINT fk_tickets_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE, "
        "ADD CONSTRAINT fk_tickets_reservation_id_reservations FOREIGN KEY (reservation_id) "
        "REFERENCES reservations (id) ON DELETE CASCADE, "
        "ADD CONSTRAINT fk_tickets_seat_id_seats FOREIGN KEY (seat_id) REFERENCES seats (id) ON DELETE CASCADE",
    ),
    # Its readers ask for HELD and REFUNDED rows only: a confirmation would then add no entry.
    "partial_user_status": Variant(
        "DROP INDEX ix_reservations_user_id_status; CREATE INDEX ix_reservations_user_id_status "
        "ON reservations (user_id, status) WHERE status IN ('HELD', 'REFUNDED')",
        "DROP INDEX ix_reservations_user_id_status; "
        "CREATE INDEX ix_reservations_user_id_status ON reservations (user_id, status)",
    ),
}
A = Variant()


def postgres_cpu(postmaster_pid: int) -> float:
    """User + system seconds of the postmaster and every child, living or reaped (a reaped
    child's time is in the postmaster's children times: backends exit at the pool's close)."""
    parent = psutil.Process(postmaster_pid)
    total = float(sum(parent.cpu_times()[:4]))
    for child in parent.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a backend that ended meanwhile
            total += sum(child.cpu_times()[:2])
    return total


def on_cpu_ms(pid: int) -> float:
    """A process's time on CPU so far, to the nanosecond (schedstat), not in clock ticks."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


async def run_sql(conn: asyncpg.Connection, text: str) -> None:
    """Each ``;``-separated statement on its own (ALTER SYSTEM refuses a transaction block)."""
    for part in filter(str.strip, text.split(";")):
        await conn.execute(part)


async def hold_for_each(conn: asyncpg.Connection, fans: list[int], seats: list[int]) -> list[int]:
    """One live hold per fan of ``seats``, as the hold's statement leaves it: the seat HELD with
    a deadline, a HELD reservation of its price."""
    await conn.execute(
        "UPDATE seats SET status = 'HELD', held_until = now() + interval '10 minutes', version = version + 1 "
        "WHERE id = ANY($1::bigint[])",
        seats,
    )
    rows = await conn.fetch(
        "INSERT INTO reservations (user_id, seat_id, schedule_id, seat_number, status, price, held_until, "
        "client_address) "
        "SELECT f.user_id, s.id, s.schedule_id, s.number, 'HELD', s.price, s.held_until, '127.0.0.1' "
        "FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS f(user_id, seat_id, n) "
        "JOIN seats s ON s.id = f.seat_id ORDER BY f.n RETURNING id",
        fans,
        seats,
    )
    return [row[0] for row in rows]


async def sampler(url: str, stop: asyncio.Event, waits: Counter[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            for row in await conn.fetch(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity "
                "WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ):
                waits[row[0]] += 1
            waits["(samples)"] += 1
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


@dataclass
class Bench:
    args: argparse.Namespace
    url: str
    admin: asyncpg.Connection
    services: Services
    fans: list[int]
    pgdata: Path
    postmaster: int

    async def fresh_payments(self) -> list[tuple[int, int, int]]:
        concert_id, _, seat_ids = await create_sale(
            self.services, "statement", dates=3, seats=len(self.fans), price=10_000
        )
        holds = await hold_for_each(self.admin, self.fans, seat_ids[2])
        return [(hold, fan, concert_id) for hold, fan in zip(holds, self.fans, strict=True)]

    def order(self) -> list[tuple[str, Variant]]:
        b = CANDIDATES[self.args.b]
        return [pair for _ in range(self.args.rounds) for pair in (("A", A), ("B", b), ("B", b), ("A", A))]

    async def explain(self) -> None:
        payments = await self.fresh_payments()
        for payment in payments[3:10]:
            await self.admin.fetch(SETTLE_ONE, *payment)
        start = await self.admin.fetchval("SELECT pg_current_wal_insert_lsn()::text")
        await self.admin.fetch(SETTLE_ONE, *payments[10])
        end = await self.admin.fetchval("SELECT pg_current_wal_insert_lsn()::text")
        waldump = [str(postgres_bin_dir() / "pg_waldump"), "-p", str(self.pgdata / "pg_wal"), "-s", start, "-e", end]
        dumped = await asyncio.to_thread(subprocess.run, waldump, capture_output=True, text=True, check=False)
        print(dumped.stdout, flush=True)
        names = await self.admin.fetch(
            "SELECT c.relfilenode, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' ORDER BY 1"
        )
        print("relfilenodes:", ", ".join(f"{row[0]} {row[1]}" for row in names), "\n", flush=True)
        explain = "EXPLAIN (ANALYZE, BUFFERS, WAL, VERBOSE) " + SETTLE_ONE
        for payment in payments[:3]:
            print("\n".join(row[0] for row in await self.admin.fetch(explain, *payment)), "\n", flush=True)

    async def probe(self) -> None:
        payments = iter(await self.fresh_payments())
        for name, variant in self.order():
            await run_sql(self.admin, variant.setup)
            conn = await asyncpg.connect(self.url)
            pid = conn.get_server_pid()
            marks = [on_cpu_ms(pid)]
            if variant.warm:
                await warm_connection(conn, WARM_STATEMENTS)
            marks.append(on_cpu_ms(pid))
            for _ in range(12):
                await conn.fetch(SETTLE_ONE, *next(payments))
                marks.append(on_cpu_ms(pid))
            plans = await conn.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", SETTLE_ONE
            )
            await conn.close()
            await run_sql(self.admin, variant.teardown)
            steps = [b - a for a, b in itertools.pairwise(marks)]
            print(
                f"{name} new backend, CPU ms: warm-up {steps[0]:.2f}, payments "
                + " ".join(f"{t:.2f}" for t in steps[1:])
                + f" (all {marks[-1] - marks[0]:.1f}; generic/custom plans {tuple(plans) if plans else None})",
                flush=True,
            )

    async def serial(self) -> None:
        results: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
        for name, variant in self.order():
            payments = await self.fresh_payments()
            await run_sql(self.admin, variant.setup)
            conn = await asyncpg.connect(self.url)
            backend = psutil.Process(conn.get_server_pid())
            for payment in payments[:10]:  # past the custom plans, as a pool's connection soon is
                await conn.fetch(SETTLE_ONE, *payment)
            cpu_before, wal_before = sum(backend.cpu_times()[:2]), await wal_stats(self.admin)
            record = ["perf", "record", "-F", "2000", "-g", "-o", self.args.perf, "-p", str(backend.pid)]
            perf = subprocess.Popen(record) if self.args.perf else None  # noqa: ASYNC220 - started once, not awaited
            began = time.perf_counter()
            for payment in payments[10:]:
                rows = await conn.fetch(SETTLE_ONE, *payment)
                assert len(rows) == 1 and rows[0][4] is not None, rows
            wall = time.perf_counter() - began
            if perf:
                perf.send_signal(2)
                perf.wait()
                self.args.perf = ""  # the first run only
            cpu = sum(backend.cpu_times()[:2]) - cpu_before
            wal_after = await wal_stats(self.admin)
            await conn.close()
            await run_sql(self.admin, variant.teardown)
            n = len(payments) - 10
            figures = (cpu / n * 1e6, wall / n * 1e6, (wal_after[2] - wal_before[2]) / n)
            results[name].append(figures)
            print(
                f"{name} serial: backend CPU {figures[0]:6.0f} µs/payment, wall {figures[1]:6.0f} µs, "
                f"WAL {figures[2]:5.0f} B in {(wal_after[0] - wal_before[0]) / n:.1f} records  "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        for name, runs in results.items():
            print(
                f"{name} serial mean: backend CPU {statistics.mean(f[0] for f in runs):6.0f} µs "
                f"(min {min(f[0] for f in runs):.0f}), wall {statistics.mean(f[1] for f in runs):6.0f} µs, "
                f"WAL {statistics.mean(f[2] for f in runs):5.0f} B",
                flush=True,
            )

    async def concurrent(self) -> None:
        results: dict[str, list[tuple[float, float, float, float]]] = {"A": [], "B": []}
        for name, variant in self.order():
            payments = await self.fresh_payments()
            if self.args.checkpoint:
                await self.admin.execute("CHECKPOINT")
            await run_sql(self.admin, variant.setup)
            waits: Counter[str] = Counter()
            stop = asyncio.Event()
            sampling = asyncio.create_task(sampler(self.url, stop, waits)) if self.args.sample else None
            cpu_before, wal_before = postgres_cpu(self.postmaster), await wal_stats(self.admin)
            connections = variant.connections
            recorder = await statement_baseline(self.url, payments, CALLERS, connections, warm=variant.warm)
            cpu = postgres_cpu(self.postmaster) - cpu_before
            wal_after = await wal_stats(self.admin)
            wal = [(a - b) / len(payments) for a, b in zip(wal_after, wal_before, strict=True)]
            stop.set()
            if sampling:
                await sampling
            await run_sql(self.admin, variant.teardown)
            assert recorder.codes.get("OK", 0) == len(payments), recorder.codes
            p50, p99 = recorder.percentile(0.5) * 1000, recorder.percentile(0.99) * 1000
            results[name].append((recorder.throughput, p50, p99, cpu / len(payments) * 1e6))
            rest = sorted(recorder.latencies[100:])
            print(
                f"{name}: {recorder.throughput:7,.0f}/s p50 {p50:6.1f} ms p99 {p99:6.1f} ms  "
                f"PostgreSQL CPU {cpu / len(payments) * 1e6:6.0f} µs/payment  load {os.getloadavg()[0]:.1f}\n"
                f"   first 64 answers: p50 {statistics.median(recorder.latencies[:64]) * 1000:.0f} "
                f"max {max(recorder.latencies[:64]) * 1000:.0f} ms; after the first 100: "
                f"p50 {rest[len(rest) // 2] * 1000:.0f} p99 {rest[int(0.99 * len(rest))] * 1000:.0f} ms\n"
                f"   per payment: WAL records {wal[0]:.1f}, full-page images {wal[1]:.2f}, bytes {wal[2]:.0f}, "
                f"writes {wal[3]:.2f}, fsyncs {wal[4]:.2f} ({wal[5] * 1000:.0f} µs of fsync)",
                flush=True,
            )
            if waits:
                samples = waits.pop("(samples)")
                busy = sum(waits.values())
                print(
                    f"   waits (busy backends per sample {busy / samples:.1f}): "
                    + ", ".join(f"{k} {v / busy:.0%}" for k, v in waits.most_common(8)),
                    flush=True,
                )
        for name, runs in results.items():
            print(
                f"{name} mean of {len(runs)}: {statistics.mean(r[0] for r in runs):7,.0f}/s "
                f"p50 {statistics.mean(r[1] for r in runs):6.1f} ms p99 {statistics.mean(r[2] for r in runs):6.1f} ms "
                f"(median {statistics.median(r[2] for r in runs):6.1f})  "
                f"PostgreSQL CPU {statistics.mean(r[3] for r in runs):6.0f} µs",
                flush=True,
            )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--b", default="same", choices=sorted(CANDIDATES), help="the change B measures")
    parser.add_argument("--rounds", type=int, default=2, help="A, B, B, A per round")
    parser.add_argument("--fans", type=int, default=2000, help="payments per run (the bench's --fans)")
    parser.add_argument("--sample", action="store_true", help="sample wait events (adds a backend)")
    parser.add_argument("--checkpoint", action="store_true", help="CHECKPOINT before each run")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--serial", action="store_true", help="one connection, backend CPU per payment")
    modes.add_argument("--probe", action="store_true", help="CPU time of a new connection's first payments")
    modes.add_argument("--explain", action="store_true", help="pg_waldump and EXPLAIN of one payment")
    parser.add_argument("--perf", default="", help="with --serial: perf record the first run's backend to this file")
    args = parser.parse_args()

    work_dir = Path(tempfile.mkdtemp(prefix="ticketing-statement-"))
    embedded = EmbeddedServers(work_dir / "servers", durable=True)
    base_db, redis_url = embedded.start(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"))
    try:
        url = await _fresh_database(base_db)
        await asyncio.to_thread(migrate, url)
        settings = Settings(env="local", database_url=url, redis_url=redis_url, data_dir=work_dir, db_pool_size=4)
        pool, redis = await create_pool(settings), create_redis(settings)
        admin = await asyncpg.connect(_plain(url))
        try:
            await run_sql(admin, "ALTER SYSTEM SET track_wal_io_timing = on; SELECT pg_reload_conf()")
            services = build_services(settings, pool, redis)
            fans = [fan.id for fan in await create_fans(services, args.fans, balance=100_000_000)]
            assert embedded.postgres is not None
            pgdata = embedded.postgres.pgdata
            postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
            bench = Bench(args, _plain(url), admin, services, fans, pgdata, postmaster)
            mode: Callable[[], Awaitable[None]] = (
                bench.serial if args.serial else bench.probe if args.probe else
                bench.explain if args.explain else bench.concurrent
            )  # fmt: skip
            await mode()
        finally:
            await admin.close()
            await redis.aclose()
            await pool.close()
    finally:
        embedded.stop()


if __name__ == "__main__":
    asyncio.run(main())

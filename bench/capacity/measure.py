"""What one request of each kind costs the service on this machine, and a measured sale to check
the model against. The service runs as the bench runs it (``ticketing serve`` on embedded
PostgreSQL and Valkey, ``bench.server``); the fans are the bench's (``bench.workloads``).

Costs are counted on the servers, not timed on the client, so the other load of a shared machine
moves them little: the service processes' CPU time (psutil, the granian process and its workers),
Redis commands (``INFO commandstats``), PostgreSQL transactions that wrote (the transaction id
counter) and WAL bytes. Each is the difference over a phase of N requests of one kind, less what
the idle service spends in the same time (its jobs and queue-view syncs), divided by N."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import psutil

from bench.burst import _commandstats
from bench.client import Pool, Recorder, Response
from bench.fixtures import create_fans
from bench.repository import BenchRepository
from bench.runner import _fresh_database
from bench.server import ServiceUnderTest
from bench.workloads import HOST, FlashSale, SaleOutcome, Target, bearer, create_sale
from ticketing.cli import migrate
from ticketing.config import Settings
from ticketing.container import Services, build_services
from ticketing.devservers.embedded import EmbeddedServers
from ticketing.kernel.db import Database, create_pool
from ticketing.kernel.redis import RedisClient, create_redis

KINDS = ("join", "poll", "dates", "seats", "hold", "hold_lost", "pay")
# The bench's flash sale (runner._flash_sale_phase): its queue settings, which the model copies.
SALE_SETTINGS: dict[str, object] = {"queue_admit_per_second": 500, "queue_active_ttl_seconds": 30, "hold_seconds": 10}
OPEN_QUEUE: dict[str, object] = {
    "queue_max_active": 1_000_000,
    "queue_admit_per_second": 100_000,
    "queue_admit_by_inventory": False,
}


class Usage(msgspec.Struct):
    """What the servers spent over an interval."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the service's processes, user + system
    redis_commands: float = 0.0
    write_transactions: float = 0.0  # PostgreSQL transactions that wrote (took a transaction id)
    wal_bytes: float = 0.0

    def minus(self, other: Usage) -> Usage:
        return Usage(
            *(a - b for a, b in zip(msgspec.structs.astuple(self), msgspec.structs.astuple(other), strict=True))
        )

    def scaled(self, factor: float) -> Usage:
        return Usage(*(value * factor for value in msgspec.structs.astuple(self)))


class Cost(msgspec.Struct):
    """One request of a kind, on average."""

    kind: str
    requests: int
    cpu_ms: float
    redis_commands: float
    write_transactions: float
    wal_bytes: float
    statuses: dict[str, int]
    redis_by_command: dict[str, float]  # the commands of one request, by name


class MeasuredSale(msgspec.Struct):
    fans: int
    seats: int
    max_active: int
    admit_per_second: int
    hold_seconds: int
    requests: dict[str, int]  # by kind (join, poll, dates, seats, hold, pay)
    lost_holds: int
    bought: int
    abandoned: int
    told_sold_out: int
    gave_up: int
    seconds: float  # until every fan's journey ended
    last_payment_seconds: float  # the last seat paid, from the first join
    poll_seconds: float  # a poll's mean round trip
    usage: Usage


class Measurements(msgspec.Struct):
    measured_at: str
    cores: int
    service_workers: int
    idle: Usage  # per second
    costs: list[Cost]
    sale: MeasuredSale
    memory_mb_per_worker: float
    load_average: list[float] = msgspec.field(default_factory=list)

    def cost(self, kind: str) -> Cost:
        return next(cost for cost in self.costs if cost.kind == kind)


@dataclass
class Meter:
    """Reads the counters of the service under test and of its servers."""

    service: ServiceUnderTest
    redis: RedisClient
    repo: BenchRepository
    processes: list[psutil.Process] = field(default_factory=list)

    def attach(self) -> None:
        """The serving processes (granian's main process and its workers), after a start."""
        assert self.service.process is not None
        main = psutil.Process(self.service.process.pid)
        self.processes = [main, *main.children(recursive=True)]

    def _cpu(self) -> float:
        total = 0.0
        for process in self.processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    async def read(self) -> Usage:
        commands = await _commandstats(self.redis)
        commands.pop("info", None)  # ours
        return Usage(
            seconds=time.perf_counter(),
            cpu_seconds=self._cpu(),
            redis_commands=float(sum(commands.values())),
            write_transactions=float(await self.repo.next_transaction_id()),
            wal_bytes=float(await self.repo.wal_position()),
        )

    def memory_mb_per_worker(self) -> float:
        workers = self.processes[1:] or self.processes
        return float(sum(p.memory_info().rss for p in workers)) / len(workers) / 2**20


async def _send_all(pool: Pool, requests: Sequence[bytes], recorder: Recorder) -> list[Response]:
    return list(await asyncio.gather(*(pool.send(raw, recorder) for raw in requests)))


class _Phases:
    """The per-kind phases on one fresh set of fans and one date with a seat for each."""

    def __init__(self, meter: Meter, target: Target, idle_per_second: Usage) -> None:
        self.meter, self.target, self.idle = meter, target, idle_per_second
        self.costs: list[Cost] = []

    async def run(self, kind: str, pool: Pool, requests: Sequence[bytes]) -> list[Response]:
        recorder = Recorder(kind)
        commands = await _commandstats(self.meter.redis)
        before = await self.meter.read()
        responses = await _send_all(pool, requests, recorder)
        spent = (await self.meter.read()).minus(before)
        commands = await _commandstats(self.meter.redis) - commands
        commands.pop("info", None)
        spent = spent.minus(self.idle.scaled(spent.seconds))
        n = len(requests)
        self.costs.append(
            Cost(
                kind=kind,
                requests=n,
                cpu_ms=max(0.0, spent.cpu_seconds * 1000 / n),
                redis_commands=max(0.0, spent.redis_commands / n),
                write_transactions=max(0.0, spent.write_transactions / n),
                wal_bytes=max(0.0, spent.wal_bytes / n),
                statuses={str(status): count for status, count in sorted(recorder.statuses.items())},
                redis_by_command={name: round(calls / n, 2) for name, calls in commands.most_common(6)},
            )
        )
        print(f"  {kind:<10} {self.costs[-1].cpu_ms:6.2f} CPU ms/request  {dict(recorder.statuses)}", flush=True)
        return responses


async def _idle(meter: Meter, seconds: float) -> Usage:
    before = await meter.read()
    await asyncio.sleep(seconds)
    spent = (await meter.read()).minus(before)
    return spent.scaled(1 / spent.seconds)


async def measure_costs(services: Services, meter: Meter, target: Target, fans_count: int) -> tuple[Usage, list[Cost]]:
    meter.service.start(**OPEN_QUEUE)
    meter.attach()
    await asyncio.sleep(1)  # the workers' start-up is not an idle second
    idle = await _idle(meter, 3.0)
    fans = await create_fans(services, fans_count, balance=1_000_000)
    concert_id, (schedule_id,), (seat_ids,) = await create_sale(
        services, "capacity: costs", dates=1, seats=fans_count, price=10_000
    )
    phases = _Phases(meter, target, idle)
    pool = Pool(HOST, target.port, target.connections)
    await pool.open()
    try:
        joined = await phases.run(
            "join", pool, [target.post(f"/api/v1/concerts/{concert_id}/queue/tokens", None, bearer(f)) for f in fans]
        )
        tokens = [str(msgspec.json.decode(r.body)["token"]) for r in joined]
        await asyncio.sleep(0.5)  # admitted (the queue is open wide): polls below see ACTIVE
        polls = [target.get("/api/v1/queue/tokens/me", {"X-Queue-Token": t}) for t in tokens]
        await phases.run("poll", pool, polls * 3)
        pairs = list(zip(fans, tokens, strict=True))
        await phases.run(
            "dates", pool, [target.get(f"/api/v1/concerts/{concert_id}/schedules", bearer(f, t)) for f, t in pairs]
        )
        await phases.run(
            "seats", pool, [target.get(f"/api/v1/schedules/{schedule_id}/seats", bearer(f, t)) for f, t in pairs]
        )
        held = await phases.run(
            "hold",
            pool,
            [
                target.post("/api/v1/reservations", {"seat_id": s}, bearer(f, t))
                for (f, t), s in zip(pairs, seat_ids, strict=True)
            ],
        )
        taken = seat_ids[:]
        random.Random(5).shuffle(taken)
        await phases.run(
            "hold_lost",
            pool,
            [
                target.post("/api/v1/reservations", {"seat_id": s}, bearer(f, t))
                for (f, t), s in zip(pairs, taken, strict=True)
            ],
        )
        reservations = [int(msgspec.json.decode(r.body)["id"]) for r in held]
        await phases.run(
            "pay",
            pool,
            [
                target.post(
                    "/api/v1/payments", {"reservation_id": rid}, {**bearer(f, t), "Idempotency-Key": f"capacity-{f.id}"}
                )
                for (f, t), rid in zip(pairs, reservations, strict=True)
            ],
        )
    finally:
        pool.close()
    return idle, phases.costs


async def measure_sale(services: Services, meter: Meter, target: Target, fans_count: int, seats: int) -> MeasuredSale:
    """The bench's flash sale (``bench.workloads.FlashSale``) with its settings: all fans join at
    once, poll every 0.5-1 s, hold a free seat (choosing again when beaten), nine in ten pay."""
    max_active = max(50, seats // 2)
    meter.service.start(queue_max_active=max_active, **SALE_SETTINGS)
    meter.attach()
    fans = await create_fans(services, fans_count, balance=200_000)
    concert_id, _, _ = await create_sale(services, "capacity: sale", dates=1, seats=seats, price=50_000)
    await asyncio.sleep(1)
    outcome = SaleOutcome(fans=fans_count, seats=seats)
    outcome.steps = {name: Recorder(name) for name in ("join", "poll", "dates", "seats", "hold", "pay")}
    print(f"  measured sale: {fans_count} fans for {seats} seats ...", flush=True)
    before = await meter.read()
    sale = FlashSale(target, concert_id, outcome, time_limit=60)
    await sale.run(fans)
    usage = (await meter.read()).minus(before)
    steps = outcome.steps
    polls = steps["poll"].latencies
    return MeasuredSale(
        fans=fans_count,
        seats=seats,
        max_active=max_active,
        admit_per_second=int(str(SALE_SETTINGS["queue_admit_per_second"])),
        hold_seconds=int(str(SALE_SETTINGS["hold_seconds"])),
        requests={name: recorder.count for name, recorder in steps.items()},
        lost_holds=steps["hold"].count - steps["hold"].statuses.get(201, 0),
        bought=outcome.bought,
        abandoned=outcome.abandoned,
        told_sold_out=outcome.sold_out_seen,
        gave_up=outcome.gave_up,
        seconds=time.perf_counter() - sale.started,
        last_payment_seconds=max(steps["pay"].ends, default=0.0),
        poll_seconds=sum(polls) / len(polls) if polls else 0.0,
        usage=usage,
    )


async def measure(fans_count: int, sale_fans: int, sale_seats: int, connections: int = 32) -> Measurements:
    work_dir = Path(tempfile.mkdtemp(prefix="ticketing-capacity-"))
    embedded = EmbeddedServers(work_dir / "servers", durable=True)
    base_db, redis_url = embedded.start(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"))
    try:
        database_url = await _fresh_database(base_db)
        await asyncio.to_thread(migrate, database_url)
        settings = Settings(
            env="local", database_url=database_url, redis_url=redis_url, data_dir=work_dir, db_pool_size=4
        )
        pool, redis = await create_pool(settings), create_redis(settings)
        await redis.flushdb()
        service = ServiceUnderTest(database_url, redis_url, work_dir)
        try:
            services = build_services(settings, pool, redis)
            async with pool.acquire() as conn:
                meter = Meter(service, redis, BenchRepository(Database(conn)))
                target = Target(service.port, connections, 10.0)
                print(f"capacity: per-request costs ({fans_count} fans per kind)", flush=True)
                idle, costs = await measure_costs(services, meter, target, fans_count)
                memory = meter.memory_mb_per_worker()
                sale = await measure_sale(services, meter, target, sale_fans, sale_seats)
        finally:
            service.stop()
            await redis.aclose()
            await pool.close()
    finally:
        embedded.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    return Measurements(
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        cores=os.cpu_count() or 1,
        service_workers=os.cpu_count() or 1,
        idle=idle,
        costs=costs,
        sale=sale,
        memory_mb_per_worker=round(memory, 1),
        load_average=[round(x, 2) for x in os.getloadavg()],
    )

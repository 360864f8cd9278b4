"""The lock study's burst workload (issue 15): for each of many fresh seats, N fans fire a hold at
the same free seat at the same instant, so that the contenders meet the locks rather than the
unlocked first read of a seat already taken.

The barrier: N keep-alive connections are opened (and used once, unrecorded) beforehand; a burst
writes the N prepared requests one after another with no await in between (each ``write`` goes
straight to its socket), then reads the N answers. Per burst: the winner's time, the losers'
latencies, where each loser was refused (from the problem ``detail``: the unlocked first read, the
Redis lock, the check under the lock, the unique index), and the row-lock waiters of the database
(``pg_locks``, sampled every ~2 ms while the burst is in flight).

Per (strategy, N) block the service is restarted without its background jobs, so that everything
the database and Redis count between the block's start and its end is the block's own:
transactions committed and rolled back and deadlocks (``pg_stat_database``, flushed by each
backend when it exits, i.e. when the service stops) and Redis commands (``INFO commandstats``).
What a bare start and stop costs is measured once and subtracted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from bench.client import Connection, Response
from bench.fixtures import LoadTestFan
from bench.repository import BenchRepository
from bench.server import ServiceUnderTest
from bench.workloads import HOST, Target, bearer
from ticketing.container import Services
from ticketing.core.locking import BENCH_ONLY_STRATEGIES
from ticketing.core.redis import RedisClient
from ticketing.reservations.errors import LOCKED, TAKEN, TAKEN_UNDER_LOCK

BURST_SIZES = (16, 64, 256)
SAMPLE_SECONDS = 0.002
# A block stops recording after this long once it has MIN_BURSTS: a strategy that stalls for
# seconds per burst (``shared``) is measured, not waited for.
BLOCK_SECONDS = 20.0
MIN_BURSTS = 3
BURST_TIMEOUT = 120.0
# The places a loser can be refused, in the order of the hold path, as the burst table names them.
REFUSALS = ("first read", "Redis lock", "under lock", "unique index", "503", "other")


def refusal_place(response: Response) -> str:
    """Where a refused hold was refused, from its problem detail (reservations/errors.py)."""
    if response.status >= 500:
        return "503"
    body = response.json() if response.body else None
    if response.status != 409 or not isinstance(body, dict) or body.get("code") != "SEAT_UNAVAILABLE":
        return "other"
    detail = str(body.get("detail", ""))
    if "unavailable_seat_ids" not in body:
        return "unique index"  # insert_holds' refusal: the index stopped a hold the locks let by
    if LOCKED in detail:
        return "Redis lock"
    if TAKEN_UNDER_LOCK in detail:
        return "under lock"
    return "first read" if TAKEN in detail else "other"


@dataclass
class BurstBlock:
    """The bursts of one strategy at one size N."""

    strategy: str
    fans: int
    bursts: int = 0
    winner_seconds: list[float] = field(default_factory=list)
    loser_seconds: list[float] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    wrong_winners: list[int] = field(default_factory=list)  # winners per burst, where not exactly 1
    lock_wait_seconds: float = 0.0  # integral of waiting backends over time (sampled)
    write_transactions: int = 0  # transaction ids assigned during the recorded bursts
    peak_waiters: int = 0
    # Counted by PostgreSQL and Redis over the whole block, the warm-up burst included, less a
    # bare start and stop of the service: per burst, divide by ``counted_bursts``.
    counters: dict[str, int] = field(default_factory=dict)
    redis_calls: Counter[str] = field(default_factory=Counter)
    double_holds: int = 0

    @property
    def counted_bursts(self) -> int:
        return self.bursts + 1

    def per_burst(self, value: float) -> float:
        return value / self.counted_bursts

    @property
    def ok(self) -> bool:
        """Never two winners of one seat, under any strategy. A burst without a winner (every
        contender refused or failed: the seat left unsold) fails the run for the strategies
        production may use; the bench-only ones (``shared``) were kept to show exactly that."""
        if self.double_holds or any(winners > 1 for winners in self.wrong_winners):
            return False
        return self.strategy in BENCH_ONLY_STRATEGIES or not self.wrong_winners


def _wrong(winners: list[int]) -> str:
    """The bursts without exactly one winner, as '3 with 0 winners'."""
    counts = Counter(winners)
    return ", ".join(f"{n} with {w} winners" for w, n in sorted(counts.items()))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LockWaitSampler:
    """Samples ``pg_locks`` from a connection of its own (to the maintenance database, so that its
    queries are not counted among the bench database's transactions)."""

    def __init__(self, repo: BenchRepository) -> None:
        self.repo = repo
        self.waiter_seconds = 0.0
        self.peak = 0
        self._running = False

    async def run(self) -> None:
        self._running = True
        last = time.perf_counter()
        while self._running:
            waiters = await self.repo.row_lock_waiters()
            now = time.perf_counter()
            self.waiter_seconds += waiters * (now - last)
            self.peak = max(self.peak, waiters)
            last = now
            await asyncio.sleep(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._running = False


async def one_burst(
    connections: list[Connection], requests: list[bytes], sampler_repo: BenchRepository, block: BurstBlock
) -> None:
    sampler = LockWaitSampler(sampler_repo)
    first_xid = await sampler_repo.next_transaction_id()
    sampling = asyncio.create_task(sampler.run())
    await asyncio.sleep(0)  # the sampler's first query is on its way before the barrier opens
    ends: list[float] = [0.0] * len(connections)

    async def answer(index: int) -> Response:
        response = await connections[index].read_response()
        ends[index] = time.perf_counter()
        return response

    opened = time.perf_counter()
    for conn, raw in zip(connections, requests, strict=True):  # the barrier: no await in between
        conn.writer.write(raw)
    responses = await asyncio.wait_for(asyncio.gather(*(answer(i) for i in range(len(connections)))), BURST_TIMEOUT)
    sampler.stop()
    await sampling
    block.write_transactions += await sampler_repo.next_transaction_id() - first_xid
    winners = 0
    for response, end in zip(responses, ends, strict=True):
        if response.status == 201:
            winners += 1
            block.winner_seconds.append(end - opened)
        else:
            block.loser_seconds.append(end - opened)
            block.refusals[refusal_place(response)] += 1
    if winners != 1:
        block.wrong_winners.append(winners)
    block.lock_wait_seconds += sampler.waiter_seconds
    block.peak_waiters = max(block.peak_waiters, sampler.peak)
    block.bursts += 1


async def _commandstats(redis: RedisClient) -> Counter[str]:
    info = await redis.info("commandstats")
    return Counter({key.removeprefix("cmdstat_"): int(value["calls"]) for key, value in info.items()})


async def _flushed_counters(repo: BenchRepository, database: str) -> dict[str, int]:
    """The counters once every backend of the stopped service has reported (they change no more)."""
    last = await repo.database_counters(database)
    for _ in range(50):
        await asyncio.sleep(0.2)
        now = await repo.database_counters(database)
        if now == last:
            return now
        last = now
    return last


@dataclass
class BurstContext:
    services: Services
    service: ServiceUnderTest
    target: Target
    redis: RedisClient
    maintenance_url: str  # the server's default database: the sampler's and the counters' home
    database: str  # the bench database's name
    settings: dict[str, object]  # service settings of every start
    fans: list[LoadTestFan]
    tokens: list[str]
    seat_ids: list[int]  # fresh seats, consumed in order
    startup_counters: dict[str, int] = field(default_factory=dict)
    startup_redis: Counter[str] = field(default_factory=Counter)

    def take_seat(self) -> int:
        return self.seat_ids.pop(0)


async def measure_startup_cost(context: BurstContext, repo: BenchRepository) -> None:
    """What a start and a stop of the service cost the database and Redis with no request at all."""
    before, redis_before = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    context.service.start(seat_lock_strategy="db", **context.settings)
    context.service.stop()
    after, redis_after = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    context.startup_counters = {key: after[key] - before[key] for key in after}
    context.startup_redis = redis_after - redis_before
    context.startup_redis["info"] = 0


async def burst_block(
    context: BurstContext, repo: BenchRepository, strategy: str, size: int, bursts: int
) -> BurstBlock:
    block = BurstBlock(strategy, size)
    before, redis_before = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    context.service.start(seat_lock_strategy=strategy, **context.settings)
    connections = [await Connection.open(HOST, context.target.port) for _ in range(size)]
    seats: list[int] = []
    try:
        # The first burst warms the new processes' pools and caches: its latencies are not
        # recorded, but the database and Redis count it, and it must have one winner too.
        warm = BurstBlock(strategy, size)
        started = time.perf_counter()
        for index in range(bursts + 1):
            if block.bursts >= MIN_BURSTS and time.perf_counter() - started > BLOCK_SECONDS:
                break
            seat = context.take_seat()
            seats.append(seat)
            requests = [
                context.target.post("/api/v1/reservations", {"seat_id": seat}, bearer(fan, token))
                for fan, token in zip(context.fans[:size], context.tokens[:size], strict=True)
            ]
            await one_burst(connections, requests, repo, block if index else warm)
        block.wrong_winners += warm.wrong_winners
        block.lock_wait_seconds += warm.lock_wait_seconds
    finally:
        for conn in connections:
            conn.close()
        context.service.stop()
    after, redis_after = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    block.counters = {key: after[key] - before[key] - context.startup_counters.get(key, 0) for key in after}
    calls = redis_after - redis_before
    calls["info"] = 0
    block.redis_calls = Counter({cmd: max(0, n - context.startup_redis.get(cmd, 0)) for cmd, n in calls.items()})
    async with context.services.uow() as uow:
        block.double_holds = await BenchRepository(uow.conn).double_holds(seats)
    return block


def block_line(block: BurstBlock) -> str:
    winner = _percentile(block.winner_seconds, 0.5) * 1000
    losers = [_percentile(block.loser_seconds, q) * 1000 for q in (0.5, 0.99)]
    xacts = [block.per_burst(block.counters.get(key, 0)) for key in ("xact_commit", "xact_rollback")]
    return (
        f"  burst [{block.strategy}] N={block.fans:<3} winner p50 {winner:6.1f} ms  losers p50/p99 "
        f"{losers[0]:6.1f}/{losers[1]:6.1f} ms  xacts/burst {xacts[0]:.1f}+{xacts[1]:.1f}  "
        f"deadlocks {block.counters.get('deadlocks', 0)}  refused {dict(block.refusals)}"
        + (f"  NOT ONE WINNER: {_wrong(block.wrong_winners)}" if block.wrong_winners else "")
    )


async def run_bursts(
    context: BurstContext, strategies: tuple[str, ...], sizes: tuple[int, ...], bursts: int
) -> list[BurstBlock]:
    conn = await asyncpg.connect(context.maintenance_url)
    try:
        repo = BenchRepository(conn)
        await measure_startup_cost(context, repo)
        print(
            f"  a bare start and stop: {context.startup_counters} in PostgreSQL, "
            f"{sum(context.startup_redis.values())} Redis commands (subtracted below)",
            flush=True,
        )
        blocks = []
        for strategy in strategies:
            for size in sizes:
                block = await burst_block(context, repo, strategy, size, bursts)
                print(block_line(block), flush=True)
                blocks.append(block)
        return blocks
    finally:
        await conn.close()


def burst_table(blocks: list[BurstBlock]) -> str:
    """One row per (strategy, N). Transactions, lock waits and Redis commands are per burst;
    deadlocks, refusals and double holds are counts over the block's bursts."""
    lines = [
        "| strategy | N | bursts | winner p50 ms | winner p99 ms | loser p50 ms | loser p99 ms | write xacts "
        "| xacts committed | xacts rolled back | row-lock wait ms | peak waiters | Redis cmds | Redis SET "
        "| deadlocks (all bursts) "
        "| refused: first read / Redis lock / under lock / unique index / 503 / other "
        "| one winner each | double holds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for b in blocks:
        redis_total = b.per_burst(sum(b.redis_calls.values()))
        refused = " / ".join(f"{b.refusals.get(place, 0):,}" for place in REFUSALS)
        winners = "yes" if not b.wrong_winners else f"**NO**: {_wrong(b.wrong_winners)}"
        lines.append(
            f"| {b.strategy} | {b.fans} | {b.bursts} | {_percentile(b.winner_seconds, 0.5) * 1000:.1f} | "
            f"{_percentile(b.winner_seconds, 0.99) * 1000:.1f} | {_percentile(b.loser_seconds, 0.5) * 1000:.1f} | "
            f"{_percentile(b.loser_seconds, 0.99) * 1000:.1f} | {b.write_transactions / max(1, b.bursts):.1f} | "
            f"{b.per_burst(b.counters.get('xact_commit', 0)):.1f} | "
            f"{b.per_burst(b.counters.get('xact_rollback', 0)):.1f} | {b.per_burst(b.lock_wait_seconds) * 1000:.1f} | "
            f"{b.peak_waiters} | {redis_total:.1f} | {b.per_burst(b.redis_calls.get('set', 0)):.1f} | "
            f"{b.counters.get('deadlocks', 0)} | {refused} | {winners} "
            f"| {b.double_holds} |"
        )
    return "\n".join(lines)

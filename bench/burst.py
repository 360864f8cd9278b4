"""The lock study's burst workload: for each of many fresh seats, N fans fire a hold at
the same free seat at the same instant, so that the contenders meet the locks rather than the
unlocked first read of a seat already taken.

The barrier: N keep-alive connections are opened (and used once, unrecorded) beforehand; a burst
writes the N prepared requests one after another with no await in between (each ``write`` goes
straight to its socket), then reads the N answers. Per burst: the winner's time, the losers'
latencies, where each loser was refused (from the problem's ``reason``: the unlocked first read,
the Redis lock, the check under the lock, the unique index), and the row-lock waiters of the database
(``pg_locks``, sampled every ~2 ms while the burst is in flight).

The several-seat variant: each burst gets a fresh group of 4 adjacent seats,
and each fan holds 2 or 3 of them, overlapping, listed in a random (seeded) order; the service
locks them in ascending id order whatever the fan's order. Besides the single-seat figures it counts
the winners per burst, the time until the burst settles (its last answer), and checks that no
seat is held twice and that every hold got all of its seats or none.

Per block (strategy, N) the service is restarted without its background jobs, so
that everything the database and Redis count between the block's start and its end is the
block's own: transactions committed and rolled back and deadlocks (``pg_stat_database``, flushed
by each backend when it exits, i.e. when the service stops) and Redis commands (``INFO
commandstats``). What a bare start and stop costs is measured once and subtracted.
"""

from __future__ import annotations

import asyncio
import random
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
from ticketing.kernel.db import Database
from ticketing.kernel.deadline import DEADLINE
from ticketing.kernel.locking import CONFLICT, LOCK_TIMEOUT, NO_DATABASE
from ticketing.kernel.redis import RedisClient
from ticketing.reservations.errors import HELD_TWICE, LOCKED, TAKEN, TAKEN_UNDER_LOCK

BURST_SIZES = (16, 64, 256)
SEVERAL_SEAT_SIZES = (16, 64)
SAMPLE_SECONDS = 0.002
# A block stops recording after this long once it has MIN_BURSTS: a block that stalls for
# seconds per burst is measured, not waited for.
BLOCK_SECONDS = 20.0
MIN_BURSTS = 3
BURST_TIMEOUT = 120.0
# The places a loser can be refused, in the order of the hold path, as the burst table names them.
REFUSALS = ("first read", "Redis lock", "under lock", "unique index", "503", "other")
UNAVAILABLE_CAUSES = ("retries exhausted", "lock timeout", "deadline", "no connection", "other")


# Where a refused hold was refused, by its problem's ``reason`` (reservations/errors.py).
REFUSAL_PLACES = {
    TAKEN: "first read",
    LOCKED: "Redis lock",
    TAKEN_UNDER_LOCK: "under lock",
    HELD_TWICE: "unique index",  # insert_holds' refusal: the index stopped a hold the locks let by
}


def refusal_place(response: Response) -> str:
    """Where a refused hold was refused, from its problem's machine-readable ``reason``."""
    if response.status >= 500:
        return "503"
    body = response.json() if response.body else None
    if response.status != 409 or not isinstance(body, dict) or body.get("code") != "SEAT_UNAVAILABLE":
        return "other"
    return REFUSAL_PLACES.get(str(body.get("reason")), "other")


@dataclass(frozen=True)
class BurstShape:
    """What the fans of a burst ask for: ``group`` fresh seats per burst, and each fan a hold of
    ``per_hold`` (one of them at random) of those seats, in a random order."""

    group: int
    per_hold: tuple[int, ...]

    @property
    def several(self) -> bool:
        return self.group > 1

    def holds(self, seats: list[int], fans: int, rng: random.Random) -> list[list[int]]:
        if not self.several:
            return [seats] * fans
        return [rng.sample(seats, rng.choice(self.per_hold)) for _ in range(fans)]

    def body(self, hold: list[int]) -> dict[str, object]:
        """One seat by ``seat_id`` (the one-seat path, as fans send it), several by ``seat_ids``."""
        return {"seat_ids": hold} if self.several else {"seat_id": hold[0]}


ONE_SEAT = BurstShape(1, (1,))
SEVERAL_SEATS = BurstShape(4, (2, 3))


@dataclass(frozen=True)
class Attempt:
    """One fan's hold in a burst: who asked for which seats, and the answer: 201 or not, and the
    seats a 201 named."""

    user_id: int
    seats: frozenset[int]
    won: bool
    answered: frozenset[int] = frozenset()

    @classmethod
    def of(cls, user_id: int, hold: list[int], response: Response) -> Attempt:
        won = response.status == 201
        return cls(user_id, frozenset(hold), won, answered_seats(response) if won else frozenset())


def not_all_or_nothing(attempts: list[Attempt], live: set[tuple[int, int]]) -> int:
    """The holds whose seats in the database (``live``: (user, seat) of every live reservation)
    are not exactly what the answer said: a 201 names and owns every seat it asked for, a refusal
    owns none. A hold that got part of its seats is one of them, whatever it was answered."""
    wrong = 0
    for attempt in attempts:
        owned = {seat for seat in attempt.seats if (attempt.user_id, seat) in live}
        expected = attempt.seats if attempt.won else frozenset()
        if owned != expected or (attempt.won and attempt.answered != attempt.seats):
            wrong += 1
    return wrong


@dataclass
class BurstBlock:
    """The bursts of one strategy and shape at one size N."""

    strategy: str
    fans: int
    shape: BurstShape = ONE_SEAT
    bursts: int = 0
    winner_seconds: list[float] = field(default_factory=list)
    loser_seconds: list[float] = field(default_factory=list)
    settle_seconds: list[float] = field(default_factory=list)  # per burst: until its last answer
    refusals: Counter[str] = field(default_factory=Counter)
    winners: list[int] = field(default_factory=list)  # per burst, the warm-up included
    attempts: list[Attempt] = field(default_factory=list)  # every hold, the warm-up's included
    lock_wait_seconds: float = 0.0  # integral of waiting backends over time (sampled)
    write_transactions: int = 0  # transaction ids assigned during the recorded bursts
    peak_waiters: int = 0
    # Counted by PostgreSQL and Redis over the whole block, the warm-up burst included, less a
    # bare start and stop of the service: per burst, divide by ``counted_bursts``.
    counters: dict[str, int] = field(default_factory=dict)
    redis_calls: Counter[str] = field(default_factory=Counter)
    # The 503s of every burst (the warm-up's included), by cause (UNAVAILABLE_CAUSES).
    unavailable: Counter[str] = field(default_factory=Counter)
    double_holds: int = 0
    not_all_or_nothing: int = 0

    @property
    def counted_bursts(self) -> int:
        return self.bursts + 1

    def per_burst(self, value: float) -> float:
        return value / self.counted_bursts

    @property
    def wrong_winners(self) -> list[int]:
        """Winners of the single-seat bursts that had not exactly one."""
        return [] if self.shape.several else [w for w in self.winners if w != 1]

    @property
    def ok(self) -> bool:
        """Never a seat held twice, never part of a hold, and a single-seat burst has exactly one
        winner (none: every contender refused or failed, the seat left unsold). Several-seat
        bursts may end with no winner (each contender refused by another's lock: the seats stay
        on sale), which is measured."""
        return not (self.double_holds or self.not_all_or_nothing or self.wrong_winners)

    @property
    def retries(self) -> int:
        """Transactions run again by ``retry_on_conflict``: one per deadlock (PostgreSQL rolls
        back one victim per deadlock it breaks), but for a victim on its last attempt."""
        return self.counters.get("deadlocks", 0) - self.unavailable["retries exhausted"]


def _wrong(winners: list[int]) -> str:
    """The bursts without exactly one winner, as '3 with 0 winners'."""
    counts = Counter(winners)
    return ", ".join(f"{n} with {w} winners" for w, n in sorted(counts.items()))


def _winners(winners: list[int]) -> str:
    """Winners per burst, as '0: 2, 1: 7, 2: 2' (bursts with that many winners)."""
    return ", ".join(f"{w}: {n}" for w, n in sorted(Counter(winners).items()))


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
    connections: list[Connection],
    requests: list[bytes],
    sampler_repo: BenchRepository,
    block: BurstBlock,
    *,
    timed: bool = True,
) -> list[Response]:
    """Open the barrier and read every answer. Winners, 503s and lock waits count for every
    burst; times, refusals and write transactions only for a ``timed`` one (not the warm-up)."""
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
    block.lock_wait_seconds += sampler.waiter_seconds
    block.winners.append(sum(1 for response in responses if response.status == 201))
    block.unavailable.update(unavailable_cause(r) for r in responses if r.status >= 500)
    if not timed:
        return responses
    block.write_transactions += await sampler_repo.next_transaction_id() - first_xid
    for response, end in zip(responses, ends, strict=True):
        if response.status == 201:
            block.winner_seconds.append(end - opened)
        else:
            block.loser_seconds.append(end - opened)
            block.refusals[refusal_place(response)] += 1
    block.settle_seconds.append(max(ends) - opened)
    block.peak_waiters = max(block.peak_waiters, sampler.peak)
    block.bursts += 1
    return responses


# Why a hold was answered 503, by its problem's ``reason`` (kernel/locking.py, kernel/deadline.py).
UNAVAILABLE_REASONS = {
    CONFLICT: "retries exhausted",  # a deadlock struck its last attempt too (retry_on_conflict gave up)
    LOCK_TIMEOUT: "lock timeout",  # a row lock not granted within lock_timeout
    DEADLINE: "deadline",  # the request's deadline passed
    NO_DATABASE: "no connection",  # no pooled connection within the time left (every one busy)
}


def unavailable_cause(response: Response) -> str:
    """Why a hold was answered 503, from its problem's machine-readable ``reason``."""
    body = response.json() if response.body else None
    return UNAVAILABLE_REASONS.get(str(body.get("reason")), "other") if isinstance(body, dict) else "other"


def answered_seats(response: Response) -> frozenset[int]:
    """The seats a 201 says were held: one reservation, or ``items`` of several."""
    body = response.json()
    if not isinstance(body, dict):
        return frozenset()
    items = body.get("items", [body])
    return frozenset(int(item["seat_id"]) for item in items if isinstance(item, dict) and "seat_id" in item)


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

    def take_seats(self, count: int) -> list[int]:
        taken, self.seat_ids = self.seat_ids[:count], self.seat_ids[count:]
        return taken


async def measure_startup_cost(context: BurstContext, repo: BenchRepository) -> None:
    """What a start and a stop of the service cost the database and Redis with no request at all."""
    before, redis_before = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    context.service.start(seat_lock_strategy="db", **context.settings)
    context.service.stop()
    after, redis_after = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    context.startup_counters = {key: after[key] - before[key] for key in after}
    context.startup_redis = redis_after - redis_before
    context.startup_redis["info"] = 0


async def burst_block(context: BurstContext, repo: BenchRepository, block: BurstBlock, bursts: int) -> BurstBlock:
    """Run the bursts of ``block`` (an empty one naming the strategy, shape and N)."""
    before, redis_before = await _flushed_counters(repo, context.database), await _commandstats(context.redis)
    context.service.start(seat_lock_strategy=block.strategy, **context.settings)
    size = block.fans
    fans, tokens = context.fans[:size], context.tokens[:size]
    connections = [await Connection.open(HOST, context.target.port) for _ in range(size)]
    # Seeded by N alone: every strategy at one N is sent the same holds.
    rng = random.Random(size)
    seats: list[int] = []
    try:
        # The first burst warms the new processes' pools and caches: its latencies are not
        # recorded, but the database and Redis count it, and it is checked like the others.
        started = time.perf_counter()
        for index in range(bursts + 1):
            if block.bursts >= MIN_BURSTS and time.perf_counter() - started > BLOCK_SECONDS:
                break
            group = context.take_seats(block.shape.group)
            seats += group
            holds = block.shape.holds(group, size, rng)
            requests = [
                context.target.post("/api/v1/reservations", block.shape.body(hold), bearer(fan, token))
                for hold, fan, token in zip(holds, fans, tokens, strict=True)
            ]
            responses = await one_burst(connections, requests, repo, block, timed=index > 0)
            block.attempts += [
                Attempt.of(fan.id, hold, response) for hold, fan, response in zip(holds, fans, responses, strict=True)
            ]
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
        audit = uow.repo(BenchRepository)
        block.double_holds = await audit.double_holds(seats)
        block.not_all_or_nothing = not_all_or_nothing(block.attempts, await audit.live_holders(seats))
    return block


def block_line(block: BurstBlock) -> str:
    winner = _percentile(block.winner_seconds, 0.5) * 1000
    losers = [_percentile(block.loser_seconds, q) * 1000 for q in (0.5, 0.99)]
    xacts = [block.per_burst(block.counters.get(key, 0)) for key in ("xact_commit", "xact_rollback")]
    kind = f"{block.strategy}, several seats" if block.shape.several else block.strategy
    line = (
        f"  burst [{kind}] N={block.fans:<3} winner p50 {winner:6.1f} ms  losers p50/p99 "
        f"{losers[0]:6.1f}/{losers[1]:6.1f} ms  xacts/burst {xacts[0]:.1f}+{xacts[1]:.1f}  "
        f"deadlocks {block.counters.get('deadlocks', 0)}  refused {dict(block.refusals)}"
    )
    if block.shape.several:
        line += (
            f"  settle p50 {_percentile(block.settle_seconds, 0.5) * 1000:.1f} ms  winners {_winners(block.winners)}"
            f"  double holds {block.double_holds}  not all or nothing {block.not_all_or_nothing}"
        )
    return line + (f"  NOT ONE WINNER: {_wrong(block.wrong_winners)}" if block.wrong_winners else "")


def plan(
    strategies: tuple[str, ...],
    sizes: tuple[int, ...],
    shape: BurstShape = ONE_SEAT,
) -> list[BurstBlock]:
    """The blocks to run, empty."""
    return [BurstBlock(strategy, size, shape) for strategy in strategies for size in sizes]


async def run_bursts(context: BurstContext, blocks: list[BurstBlock], bursts: int) -> list[BurstBlock]:
    conn = await asyncpg.connect(context.maintenance_url)
    try:
        repo = BenchRepository(Database(conn))
        await measure_startup_cost(context, repo)
        print(
            f"  a bare start and stop: {context.startup_counters} in PostgreSQL, "
            f"{sum(context.startup_redis.values())} Redis commands (subtracted below)",
            flush=True,
        )
        for block in blocks:
            await burst_block(context, repo, block, bursts)
            print(block_line(block), flush=True)
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


def several_seat_table(blocks: list[BurstBlock]) -> str:
    """One row per (strategy, N). Deadlocks, retries and rollbacks come from
    PostgreSQL over every burst of the block (the warm-up's included: per burst, divided by
    bursts + 1), as do the winners and the two checks; times and refusals are the timed bursts'."""
    lines = [
        "| strategy | N | bursts | deadlocks (all bursts) | deadlocks per burst | retried xacts "
        "| xacts rolled back per burst | row-lock wait ms per burst | settle p50 ms | settle max ms | loser p50 ms "
        "| loser p99 ms | 503: retries exhausted / lock timeout / deadline / no connection / other "
        "| winners per burst (winners: bursts) "
        "| refused: first read / Redis lock / under lock / unique index / 503 / other "
        "| seats held twice | holds not all or nothing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|",
    ]
    for b in blocks:
        deadlocks = b.counters.get("deadlocks", 0)
        refused = " / ".join(f"{b.refusals.get(place, 0):,}" for place in REFUSALS)
        unavailable = " / ".join(f"{b.unavailable.get(cause, 0):,}" for cause in UNAVAILABLE_CAUSES)
        lines.append(
            f"| {b.strategy} | {b.fans} | {b.bursts} | {deadlocks} | {b.per_burst(deadlocks):.1f} | "
            f"{b.retries} | {b.per_burst(b.counters.get('xact_rollback', 0)):.1f} | "
            f"{b.per_burst(b.lock_wait_seconds) * 1000:.1f} | {_percentile(b.settle_seconds, 0.5) * 1000:.1f} | "
            f"{max(b.settle_seconds, default=0.0) * 1000:.1f} | {_percentile(b.loser_seconds, 0.5) * 1000:.1f} | "
            f"{_percentile(b.loser_seconds, 0.99) * 1000:.1f} | {unavailable} | {_winners(b.winners)} | "
            f"{refused} | "
            f"{b.double_holds} | {b.not_all_or_nothing} |"
        )
    return "\n".join(lines)

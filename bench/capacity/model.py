"""A SimPy model of one sale: fans join, wait and poll, are admitted as the waiting room admits
them (rate, cap, never more fans choosing than seats left), read the dates and seats, hold, pay or
walk away; waiters are told SOLD_OUT once no seat is left. It counts the requests of each kind
per second, and turns them into CPU, Redis and PostgreSQL load with the measured costs.

For 10^7 fans each simulated fan stands for ``weight`` real ones (at most ``MAX_AGENTS`` agents):
they arrive, poll and buy together. Counts are multiplied back; the queue's arithmetic (positions,
admission, seats) is done in real fans."""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import simpy

KINDS = ("join", "poll", "dates", "seats", "hold", "pay")
MAX_AGENTS = 20_000
MIN_AGENTS_PER_SALE = 500  # simulated buyers at least: the weight never lumps a sale into a few agents
# The waiting room's poll schedule (waiting_room/service.py: NEAR_FRONT_POLL_MS, ACTIVE_POLL_MS).
NEAR_FRONT_POLL_S = 1.0
ACTIVE_POLL_S = 5.0
ADMIT_TICK_S = 0.1  # the admission job's cadence, near enough
SOLD_OUT_CHECK_S = 1.0  # waiting_room/jobs.py SOLD_OUT_CHECK_SECONDS


@dataclass(frozen=True)
class Sale:
    fans: int
    seats: int
    arrival_seconds: float = 120.0  # fans join evenly spread over this (0: all at once)
    admit_per_second: int = 200  # TICKETING_QUEUE_ADMIT_PER_SECOND
    max_active: int = 1000  # TICKETING_QUEUE_MAX_ACTIVE
    grace_seconds: int = 60  # TICKETING_QUEUE_WAITING_GRACE_SECONDS (the longest poll: a third)
    active_ttl_seconds: int = 600  # TICKETING_QUEUE_ACTIVE_TTL_SECONDS (a walked-away holder's place)
    hold_seconds: int = 300  # TICKETING_HOLD_SECONDS
    choose_seconds: float = 20.0  # admission seen -> hold sent (reading the map, choosing)
    pay_seconds: float = 30.0  # hold -> payment
    abandon: float = 0.1  # of the fans who hold, these walk away (every tenth holder, not a draw)
    request_seconds: float = 0.0  # a request's round trip, added to each poll cycle (the bench's fans)
    hold_attempts: float = 1.0  # hold requests per fan who holds (lost races choose again)
    # "page": the fans' page, which polls when poll_after_ms says (and every 5 s once admitted);
    # "bench": the bench's fans, every 0.5-1 s while waiting and not once admitted.
    polling: Literal["page", "bench"] = "page"
    time_limit: float = 3_600.0
    seed: int = 23
    max_agents: int = MAX_AGENTS


@dataclass
class SaleResult:
    sale: Sale
    weight: int
    per_second: dict[int, list[float]]  # second -> requests of each of KINDS
    sold: int = 0
    bought: int = 0  # fans who paid
    abandoned: int = 0
    told_sold_out: int = 0
    sold_out_at: float | None = None  # the last seat paid
    waits: list[float] = field(default_factory=list)  # join -> admission seen, one entry per agent who bought
    sold_out_told_after: list[float] = field(default_factory=list)  # join -> told SOLD_OUT, per agent
    paid_at: list[float] = field(default_factory=list)  # when each buying agent paid

    def sold_at(self, fraction: float) -> float:
        """When ``fraction`` of the seats had been paid (nan if never)."""
        needed = math.ceil(fraction * self.sale.seats / self.weight)
        return self.paid_at[needed - 1] if 0 < needed <= len(self.paid_at) else math.nan

    def totals(self) -> dict[str, float]:
        return {kind: sum(row[i] for row in self.per_second.values()) for i, kind in enumerate(KINDS)}

    def series(self, kind: str) -> list[float]:
        column = KINDS.index(kind)
        last = max(self.per_second, default=0)
        return [self.per_second.get(second, [0.0] * len(KINDS))[column] for second in range(last + 1)]


def poll_after(sale: Sale, position: int, spread: float) -> float:
    """When a waiter at ``position`` asks again (WaitingRoomService.poll_after_ms, in seconds)."""
    longest = max(NEAR_FRONT_POLL_S, sale.grace_seconds / 3)
    base = min(max(position / sale.admit_per_second / 5, NEAR_FRONT_POLL_S), longest)
    return max(NEAR_FRONT_POLL_S / 2, base * spread)


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Room:
    """The concert's queue and seats, in real fans."""

    def __init__(self, sale: Sale) -> None:
        self.sale = sale
        self.waiting: deque[_Fan] = deque()
        self.admitted_total = 0  # fans admitted so far (positions count from it)
        self.active = 0  # admitted places taken (choosing, holding, or walked away with a hold)
        self.choosing = 0  # admitted, not yet held
        self.held = 0
        self.sold = 0
        self.sold_out = False

    @property
    def free(self) -> int:
        return self.sale.seats - self.held - self.sold


class _Fan:
    __slots__ = ("admitted", "gone", "joined", "rank", "spread")

    def __init__(self, rank: int, spread: float, joined: float) -> None:
        self.rank = rank  # fans ahead of this agent's first fan, plus one
        self.spread = spread
        self.joined = joined
        self.admitted = False
        self.gone = False


def simulate(sale: Sale) -> SaleResult:
    return _Simulation(sale).run()


class _Simulation:
    def __init__(self, sale: Sale) -> None:
        self.sale = sale
        self.weight = max(1, min(math.ceil(sale.fans / sale.max_agents), sale.seats // MIN_AGENTS_PER_SALE))
        self.agents = math.ceil(sale.fans / self.weight)
        self.env = simpy.Environment()
        self.room = _Room(sale)
        self.rng = random.Random(sale.seed)
        self.result = SaleResult(sale, self.weight, defaultdict(lambda: [0.0] * len(KINDS)))
        self.holders = 0

    def run(self) -> SaleResult:
        env, sale, result = self.env, self.sale, self.result
        env.process(self.admitter())
        env.process(self.sold_out_check())
        for index in range(self.agents):
            env.process(self.journey(index))
        everyone = self.agents * self.weight
        while env.peek() <= sale.time_limit + sale.active_ttl_seconds:
            env.step()
            if result.bought + result.abandoned + result.told_sold_out >= everyone:
                break
        result.sold = self.room.sold
        return result

    def count(self, kind: str, n: float = 1.0, at: float | None = None) -> None:
        self.result.per_second[int(self.env.now if at is None else at)][KINDS.index(kind)] += n * self.weight

    def admitter(self) -> Generator[simpy.Event, Any, None]:
        room, sale, weight = self.room, self.sale, self.weight
        budget = 0.0
        while True:
            yield self.env.timeout(ADMIT_TICK_S)
            budget = min(budget + sale.admit_per_second * ADMIT_TICK_S, float(max(sale.admit_per_second, weight)))
            while room.waiting and budget >= weight and room.active + weight <= sale.max_active:
                if room.choosing + weight > room.free:  # never more fans choosing than seats left
                    break
                fan = room.waiting.popleft()
                if fan.gone:
                    continue
                fan.admitted = True
                budget -= weight
                room.admitted_total += weight
                room.active += weight
                room.choosing += weight

    def sold_out_check(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(SOLD_OUT_CHECK_S)
            self.room.sold_out = self.room.sold >= self.sale.seats  # no unsold seat (a held one is unsold)

    def later(self, seconds: float, seats: int = 0, places: int = 0) -> Generator[simpy.Event, Any, None]:
        """An abandoned hold's seats come back after the hold, its place after the token's life."""
        yield self.env.timeout(seconds)
        self.room.held -= seats
        self.room.active -= places

    def wait_for_admission(self, fan: _Fan) -> Generator[simpy.Event, Any, bool]:
        sale, room = self.sale, self.room
        while not fan.admitted:
            if sale.polling == "page":
                yield self.env.timeout(
                    poll_after(sale, max(1, fan.rank - room.admitted_total), fan.spread) + sale.request_seconds
                )
            else:
                yield self.env.timeout(0.5 + self.rng.random() * 0.5 + sale.request_seconds)
            if self.env.now > sale.time_limit:
                fan.gone = True
                return False
            self.count("poll")
            if not fan.admitted and room.sold_out:
                fan.gone = True
                self.result.told_sold_out += self.weight
                self.result.sold_out_told_after.append(self.env.now - fan.joined)
                return False
        return True

    def journey(self, index: int) -> Generator[simpy.Event, Any, None]:
        env, sale, room, weight, result = self.env, self.sale, self.room, self.weight, self.result
        yield env.timeout(sale.arrival_seconds * index / self.agents)
        self.count("join")
        fan = _Fan(rank=index * weight + 1, spread=0.9 + 0.2 * self.rng.random(), joined=env.now)
        room.waiting.append(fan)
        if not (yield from self.wait_for_admission(fan)):
            return
        admitted_seen = env.now
        if sale.polling == "page":
            yield env.timeout(sale.choose_seconds)
        for kind in ("dates", "seats", "hold"):
            self.count(kind, sale.hold_attempts)
        room.choosing -= weight
        if room.free < weight:
            room.active -= weight
            result.told_sold_out += weight
            return
        room.held += weight
        self.holders += 1
        if math.floor(self.holders * sale.abandon) > math.floor((self.holders - 1) * sale.abandon):
            result.abandoned += weight
            env.process(self.later(sale.hold_seconds, seats=weight))
            env.process(self.later(sale.active_ttl_seconds, places=weight))
            self.active_polls(admitted_seen, sale.hold_seconds)
            return
        if sale.polling == "page":
            yield env.timeout(sale.pay_seconds)
        self.count("pay")
        room.held -= weight
        room.sold += weight
        room.active -= weight
        result.bought += weight
        result.waits.append(admitted_seen - fan.joined)
        result.paid_at.append(env.now)
        self.active_polls(admitted_seen, env.now - admitted_seen)
        if room.sold >= sale.seats and result.sold_out_at is None:
            result.sold_out_at = env.now

    def active_polls(self, since: float, seconds: float) -> None:
        """The page refreshes the token's timer every ACTIVE_POLL_S while the fan chooses and pays."""
        if self.sale.polling == "page":
            self.count("poll", int(seconds / ACTIVE_POLL_S), at=since)


@dataclass(frozen=True)
class UnitCost:
    """What one request of a kind costs (measure.py measures it)."""

    cpu_ms: float
    redis_commands: float
    write_transactions: float
    wal_bytes: float


@dataclass(frozen=True)
class Node:
    """An API node as this machine is one: ``cores`` granian workers, run at most at
    ``utilisation`` at the peak (the HPA's target), spending ``idle`` per second doing nothing
    (its jobs, its queue views' syncs)."""

    cores: int
    idle: UnitCost
    utilisation: float = 0.6


@dataclass(frozen=True)
class Sizing:
    sale: Sale
    api_nodes: int
    peak_cores: float  # CPU cores busy at the worst 5 s
    peak: dict[str, float]  # requests/s at the worst 5 s of each kind
    peak_redis_commands: float  # per second, at the worst 5 s
    peak_write_transactions: float
    peak_wal_bytes: float
    series: dict[str, list[float]]  # per second: cores, redis, writes


PEAK_WINDOW_S = 5


def _peak(values: list[float], window: int = PEAK_WINDOW_S) -> float:
    if len(values) <= window:
        return sum(values) / max(1, len(values))
    running = sum(values[:window])
    best = running
    for i in range(window, len(values)):
        running += values[i] - values[i - window]
        best = max(best, running)
    return best / window


def size(result: SaleResult, costs: dict[str, UnitCost], node: Node, lost_hold: UnitCost | None = None) -> Sizing:
    """Load per second from the simulated requests and the measured costs; API nodes for the
    worst 5 s. A hold request beyond the first of a fan (a lost race) costs ``lost_hold``."""
    attempts = result.sale.hold_attempts
    hold = costs["hold"]
    if lost_hold is not None and attempts > 1:
        share = (attempts - 1) / attempts
        hold = UnitCost(*(a * (1 - share) + b * share for a, b in zip(_fields(hold), _fields(lost_hold), strict=True)))
    per_kind = {kind: (hold if kind == "hold" else costs[kind]) for kind in KINDS}
    seconds = max(result.per_second, default=0) + 1
    cpu, redis, writes, wal = ([0.0] * seconds for _ in range(4))
    for second, row in result.per_second.items():
        for kind, n in zip(KINDS, row, strict=True):
            cost = per_kind[kind]
            cpu[second] += n * cost.cpu_ms / 1000
            redis[second] += n * cost.redis_commands
            writes[second] += n * cost.write_transactions
            wal[second] += n * cost.wal_bytes
    peak_cores = _peak(cpu)
    nodes = max(2, math.ceil(peak_cores / (node.cores * node.utilisation)))  # two: one may fail
    redis = [value + nodes * node.idle.redis_commands for value in redis]
    writes = [value + nodes * node.idle.write_transactions for value in writes]
    return Sizing(
        sale=result.sale,
        api_nodes=nodes,
        peak_cores=peak_cores,
        peak={kind: _peak(result.series(kind)) for kind in KINDS},
        peak_redis_commands=_peak(redis),
        peak_write_transactions=_peak(writes),
        peak_wal_bytes=_peak(wal),
        series={"cores": cpu, "redis": redis, "writes": writes},
    )


def _fields(cost: UnitCost) -> tuple[float, float, float, float]:
    return (cost.cpu_ms, cost.redis_commands, cost.write_transactions, cost.wal_bytes)

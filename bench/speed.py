"""The rows of ``make bench`` that judge the service against its own ceilings rather than the HTTP
floor: the opening second (every fan of a sale joins its queue within one second) and the payment
baseline (the very payment statement, sent by asyncpg straight to PostgreSQL at the concurrency
the service gets, no HTTP, no service code)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import count

import asyncpg

from bench.client import Pool, Recorder, Response
from bench.fixtures import create_fans
from bench.workloads import HOST, Target, bearer, create_sale, presolved_joins
from ticketing.container import Services
from ticketing.kernel.db import warm_connection
from ticketing.payments.repository import SETTLE_ONE, WARM_STATEMENTS

# The opening second's targets on this 2-core machine: every fan answered within 3 s of the
# opening, and p99 of the joins (from the moment each fan pressed the button) within 2 s.
OPENING_ALL_ANSWERED_SECONDS = 3.0
OPENING_P99_SECONDS = 2.0
OPENING_CONNECTIONS = 1_024  # keep-alive connections the fans share (each fan sends one request)

# Payment over HTTP against the statement alone: the ratio of their rates, and the p99 limit.
PAYMENT_BASELINE_TARGET = 0.6
PAYMENT_P99_LIMIT = 0.100


@dataclass
class OpeningSecond:
    fans: int
    gated: bool
    latencies: list[float] = field(default_factory=list)  # from each fan's own press of the button
    statuses: Counter[int] = field(default_factory=Counter)
    last_answer: float = 0.0  # seconds from the opening until the last fan had an answer
    server_cpu_seconds: float | None = None

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def joins_per_second(self) -> float:
        return len(self.latencies) / self.last_answer if self.last_answer else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def shortfalls(self) -> list[str]:
        reasons = []
        if len(self.latencies) < self.fans:
            reasons.append(f"{self.fans - len(self.latencies):,} fans without an answer")
        if self.last_answer > OPENING_ALL_ANSWERED_SECONDS:
            reasons.append(f"last answer at {self.last_answer:.2f} s > {OPENING_ALL_ANSWERED_SECONDS:g} s")
        if self.percentile(0.99) > OPENING_P99_SECONDS:
            reasons.append(f"p99 {self.percentile(0.99):.2f} s > {OPENING_P99_SECONDS:g} s")
        if self.server_errors:
            reasons.append(f"{self.server_errors:,} server errors")
        return reasons

    def table(self) -> str:
        why = "; ".join(self.shortfalls)
        cpu = (
            "—"
            if self.server_cpu_seconds is None or not self.latencies
            else f"{self.server_cpu_seconds / len(self.latencies) * 1e6:,.1f}"
        )
        codes = ", ".join(f"{status} {n:,}" for status, n in sorted(self.statuses.items()))
        return "\n".join(
            [
                "| fans | proof-of-work | all answered, s | p50 s | p99 s | 5xx | joins/s | answers | "
                "server CPU µs/join | target | verdict |",
                "|---:|---|---:|---:|---:|---:|---:|---|---:|---|---|",
                f"| {self.fans:,} | {'on' if self.gated else 'off'} | {self.last_answer:.2f} | "
                f"{self.percentile(0.5):.3f} | {self.percentile(0.99):.3f} | {self.server_errors} | "
                f"{self.joins_per_second:,.0f} | {codes} | {cpu} | all ≤ {OPENING_ALL_ANSWERED_SECONDS:g} s, "
                f"p99 ≤ {OPENING_P99_SECONDS:g} s, no 5xx | {f'**SHORT** ({why})' if why else 'PASS'} |",
            ]
        )


async def opening_second(services: Services, target: Target, fans_count: int, *, gated: bool) -> OpeningSecond:
    """``fans_count`` fans, each pressing "join" once at an instant spread evenly over the first
    second of the opening (an open loop: a fan presses on time whether or not the others were
    answered). They share ``OPENING_CONNECTIONS`` keep-alive connections; a fan's latency runs from
    its own press, so the wait for a free connection counts as the server's. With ``gated`` every
    join carries a solution of the proof-of-work challenge (``GATED_JOINS``), as production's
    gate asks of a crowd this size."""
    fans = await create_fans(services, fans_count, balance=0)
    concert_id, _, _ = await create_sale(services, "bench: opening second", dates=1, seats=50, price=10_000)
    path = f"/api/v1/concerts/{concert_id}/queue/tokens"
    solutions = presolved_joins(services, concert_id, fans_count) if gated else [""] * fans_count
    requests = [
        target.post(path, None, {**bearer(fan), **({"X-Altcha": solution} if solution else {})})
        for fan, solution in zip(fans, solutions, strict=True)
    ]
    pool = Pool(HOST, target.port, min(OPENING_CONNECTIONS, fans_count))
    await pool.open()
    result = OpeningSecond(fans_count, gated)
    print(f"  running the opening second ({fans_count:,} fans, {pool.size} connections) ...", flush=True)
    next_fan = count()
    opening = time.perf_counter() + 0.2
    spacing = 1.0 / fans_count

    async def connection_worker() -> None:
        while (index := next(next_fan)) < fans_count:
            pressed = opening + index * spacing
            if (wait := pressed - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            response: Response = await pool.send(requests[index])
            result.latencies.append(time.perf_counter() - pressed)
            result.statuses[response.status] += 1

    cpu_before = target.server_cpu()
    try:
        await asyncio.gather(*(connection_worker() for _ in range(pool.size)))
    finally:
        pool.close()
    result.last_answer = time.perf_counter() - opening
    cpu_after = target.server_cpu()
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu_seconds = cpu_after - cpu_before
    print(
        f"  opening second: every fan answered after {result.last_answer:.2f} s, p99 {result.percentile(0.99):.3f} s, "
        f"{dict(sorted(result.statuses.items()))}",
        flush=True,
    )
    return result


@dataclass
class PaymentBaseline:
    http: Recorder  # payment over HTTP, the default strategy's
    statement: Recorder  # the settle statement alone, by asyncpg
    connections: int  # database connections of the baseline: as many as the service's pools

    @property
    def ratio(self) -> float:
        return self.http.throughput / self.statement.throughput if self.statement.throughput else 0.0

    def table(self) -> str:
        reasons = []
        if self.ratio < PAYMENT_BASELINE_TARGET:
            reasons.append(f"{self.ratio:.2f} of the statement < {PAYMENT_BASELINE_TARGET:.2f}")
        if self.http.percentile(0.99) > PAYMENT_P99_LIMIT:
            reasons.append(f"p99 {self.http.percentile(0.99) * 1000:.1f} ms > {PAYMENT_P99_LIMIT * 1000:.0f} ms")
        if self.http.server_errors:
            reasons.append(f"{self.http.server_errors} server errors")
        why = "; ".join(reasons)
        target = f"≥ {PAYMENT_BASELINE_TARGET:.2f}, p99 ≤ {PAYMENT_P99_LIMIT * 1000:.0f} ms"
        lines = [
            "| workload | payments | req/s | p50 ms | p99 ms | x statement | target | verdict |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for recorder in (self.statement, self.http):
            lines.append(
                f"| {recorder.name} | {recorder.codes['OK']:,} | {recorder.throughput:,.0f} | "
                f"{recorder.percentile(0.5) * 1000:.1f} | {recorder.percentile(0.99) * 1000:.1f} | "
                + (
                    "1.00 | — | — |"
                    if recorder is self.statement
                    else f"{self.ratio:.2f} | {target} | {f'**SHORT** ({why})' if why else 'PASS'} |"
                )
            )
        return "\n".join(lines)


async def statement_baseline(
    database_url: str,
    payments: list[tuple[int, int, int]],
    callers: int,
    connections: int,
    *,
    warm: bool = True,
) -> Recorder:
    """The settle statement of ``PaymentRepository.settle`` for each (reservation, payer, concert),
    ``callers`` at once over ``connections`` database connections, each statement on its own
    (autocommit: one statement is one transaction). Every row must come back paid. Each
    connection is warmed first as the service's are (``kernel.db.warm_connection``), unless
    ``warm`` is false: the statement against the service, each on connections in the same state."""
    recorder = Recorder("payment statement, asyncpg (no HTTP)")
    init = functools.partial(warm_connection, statements=WARM_STATEMENTS) if warm else None
    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections, init=init)
    next_payment = count()

    async def caller() -> None:
        while (index := next(next_payment)) < len(payments):
            began = time.perf_counter()
            async with pool.acquire() as conn:
                rows = await conn.fetch(SETTLE_ONE, *payments[index])
            paid = len(rows) == 1 and rows[0][4] is not None
            recorder.record(began, Response(201 if paid else 409, b""))

    try:
        recorder.started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        recorder.close()
    finally:
        await pool.close()
    print(
        f"  {recorder.name:<28} {recorder.throughput:>9,.0f} req/s  p99 {recorder.percentile(0.99) * 1000:7.1f} ms  "
        f"{dict(recorder.codes)}",
        flush=True,
    )
    return recorder

"""The faults, one per scenario. Each ``inject`` runs in the middle of a phase of load and
returns the moment (monotonic) the fault ended: the dependency is back, the process resumed,
or the restart was issued. Recovery is measured from there.

Blocking steps (stopping and starting servers) run in threads: the fans share this event loop
and must go on while a server restarts.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chaos.stack import Stack

RECOVERY_TARGET = 5.0  # seconds after a dependency returns
RESTART_RECOVERY_TARGET = 10.0  # seconds after every service process was restarted
LATENCY_EACH_WAY = 0.1  # 200 ms added to every round trip


@dataclass
class FaultContext:
    stack: Stack
    seconds: float  # how long the fault lasts
    notes: list[str] = field(default_factory=list)
    background: list[asyncio.Task[None]] = field(default_factory=list)  # awaited at the phase's end


Inject = Callable[[FaultContext], Awaitable[float]]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    inject: Inject
    recovery_target: float | None = RECOVERY_TARGET  # None: no recovery to measure
    frozen_worker: bool = False  # requests stuck on the frozen process cannot answer: hangs excused
    loses_tokens: bool = False  # Redis comes back empty: the queue tokens are gone
    twin_share: float = 0.1
    fault_seconds: float | None = None  # overrides the run's fault length
    seats_per_fan: float | None = None  # a sale with fewer seats than fans: it sells out


async def kill_one_worker(ctx: FaultContext) -> float:
    workers = ctx.stack.granian_workers()
    if not workers:
        raise RuntimeError("no granian worker to kill")
    workers[0].send_signal(signal.SIGKILL)
    ctx.notes.append(f"killed granian worker pid {workers[0].pid} (of {len(workers)})")
    return time.monotonic()


async def kill_one_node(ctx: FaultContext) -> float:
    """A machine lost: one ``ticketing serve`` and its workers SIGKILLed; the balancer sends
    the fans to the other node; a supervisor starts it again after the fault's length."""
    killed = await ctx.stack.kill_node(0)
    ctx.notes.append(f"SIGKILL to node 1 ({killed} processes); node 2 serves alone for {ctx.seconds:g} s")
    await asyncio.sleep(ctx.seconds)
    ctx.stack.launch_node(0)
    restarted = time.monotonic()

    async def note_ready() -> None:
        ready = await ctx.stack.wait_ready(nodes=[0])
        ctx.notes.append(f"node 1's /readyz answered 200 {ready:.1f} s after its restart")

    ctx.background.append(asyncio.create_task(note_ready()))
    return restarted


async def kill_everything(ctx: FaultContext) -> float:
    killed = await ctx.stack.kill_service()
    ctx.notes.append(f"SIGKILL to {killed} service processes (every node, its workers, worker)")
    await asyncio.sleep(min(ctx.seconds, 1.0))  # a supervisor restarts within about a second
    ctx.stack.launch_service()
    restarted = time.monotonic()

    async def note_ready() -> None:
        ready = await ctx.stack.wait_ready()
        ctx.notes.append(f"/readyz answered 200 {ready:.1f} s after the restart")

    # The recovery window starts at the restart, not at readiness: starting up is part of it.
    ctx.background.append(asyncio.create_task(note_ready()))
    return restarted


async def lose_redis(ctx: FaultContext) -> float:
    await asyncio.to_thread(ctx.stack.kill_redis)
    await asyncio.sleep(ctx.seconds)
    await asyncio.to_thread(ctx.stack.restart_redis)
    ctx.notes.append(f"Valkey SIGKILLed, its data deleted, restarted empty after {ctx.seconds:g} s")
    return time.monotonic()


async def crash_postgres(ctx: FaultContext) -> float:
    await asyncio.to_thread(ctx.stack.crash_postgres)
    await asyncio.sleep(ctx.seconds)
    started = time.monotonic()
    await asyncio.to_thread(ctx.stack.restart_postgres)
    ctx.notes.append(
        f"PostgreSQL immediate shutdown, down {ctx.seconds:g} s, crash recovery and ready in "
        f"{time.monotonic() - started:.1f} s"
    )
    return time.monotonic()


async def freeze_worker(ctx: FaultContext) -> float:
    workers = ctx.stack.granian_workers()
    if not workers:
        raise RuntimeError("no granian worker to freeze")
    victim = workers[0]
    victim.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(ctx.seconds)
    finally:
        victim.send_signal(signal.SIGCONT)  # even when the run is interrupted
    ctx.notes.append(f"SIGSTOP to granian worker pid {victim.pid} for {ctx.seconds:g} s, then SIGCONT")
    return time.monotonic()


async def slow_network(ctx: FaultContext) -> float:
    for proxy in ctx.stack.proxies:
        await proxy.set_latency(LATENCY_EACH_WAY)
    try:
        await asyncio.sleep(ctx.seconds)
    finally:
        for proxy in ctx.stack.proxies:
            await proxy.heal()
    ctx.notes.append(
        f"+{2 * LATENCY_EACH_WAY * 1000:.0f} ms per round trip to PostgreSQL and Redis for {ctx.seconds:g} s"
    )
    return time.monotonic()


def drop_connections(which: str) -> Inject:
    async def inject(ctx: FaultContext) -> float:
        proxy = ctx.stack.pg_proxy if which == "postgres" else ctx.stack.redis_proxy
        reset = await proxy.refuse()
        try:
            await asyncio.sleep(ctx.seconds)
        finally:
            await proxy.heal()
        ctx.notes.append(f"reset {reset} live {which} connections, refused new ones for {ctx.seconds:g} s")
        return time.monotonic()

    return inject


async def no_fault(ctx: FaultContext) -> float:
    ctx.notes.append("no fault: every fan that pays sends its payment 5 times at once with one key")
    return time.monotonic()


# The freeze outlasts the seat lock's TTL (5 s in the service; 15 s asked for) and the
# client's timeout, so that its locks lapse and its requests' clients give up.
FREEZE_SECONDS = 16.0

ALL: list[Scenario] = [
    Scenario("kill-worker", "kill -9 one granian worker", kill_one_worker),
    Scenario(
        "sell-out",
        "a sale with half as many seats as fans; kill -9 one node, restart",
        kill_one_node,
        seats_per_fan=0.5,
    ),
    Scenario(
        "kill-all",
        "kill -9 every service process, restart",
        kill_everything,
        recovery_target=RESTART_RECOVERY_TARGET,
    ),
    Scenario("redis-lost", "Valkey killed, restarted empty", lose_redis, loses_tokens=True),
    Scenario("pg-crash", "PostgreSQL immediate shutdown, restart", crash_postgres),
    Scenario(
        "sigstop",
        "SIGSTOP a granian worker past the lock TTL",
        freeze_worker,
        frozen_worker=True,
        fault_seconds=FREEZE_SECONDS,
    ),
    Scenario("latency", "+200 ms round trip to PostgreSQL and Redis", slow_network),
    Scenario("pg-drop", "PostgreSQL connections reset and refused", drop_connections("postgres")),
    Scenario("redis-drop", "Redis connections reset and refused", drop_connections("redis")),
    Scenario("twin-storm", "same-key payment storm (5 twins)", no_fault, recovery_target=None, twin_share=1.0),
]
SMOKE_KEYS = ("sell-out", "redis-lost", "pg-crash", "twin-storm")


def by_key(keys: list[str]) -> list[Scenario]:
    known = {s.key: s for s in ALL}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[k] for k in keys]

"""The faults ``make cluster-test`` injects into the running topology, one per phase of load.

Each ``inject`` runs in the middle of a phase and returns the moment (monotonic) the fault ended,
from which the bounded blip is counted; ``restore`` runs after the phase, so that the next one
starts on the whole topology again. Blocking steps (starting and stopping servers, waiting for a
failover) run in threads: the fans share this event loop and go on meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.crc import key_slot
from redis.exceptions import RedisError

from cluster.topology import HOST, Topology
from ticketing.devservers.embedded import EmbeddedRedis

FREEZE_SECONDS = 4.0
FAILOVER_LIMIT_SECONDS = 30.0


@dataclass
class FaultContext:
    topology: Topology
    concert_id: int  # the phase's sale (its queue lives on one Valkey master)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)


Inject = Callable[[FaultContext], Awaitable[float]]
Restore = Callable[[FaultContext], Awaitable[None]]


async def _nothing(_: FaultContext) -> None:
    return None


@dataclass(frozen=True)
class Fault:
    key: str
    title: str
    inject: Inject
    restore: Restore = _nothing


async def no_fault(ctx: FaultContext) -> float:
    return time.monotonic()


def _signal_node(ctx: FaultContext, name: str, signum: signal.Signals) -> None:
    """To the node's whole process group: ``ticketing serve`` and its granian workers."""
    os.killpg(ctx.topology.processes[name].pid, signum)


async def kill_node(ctx: FaultContext) -> float:
    process = ctx.topology.processes.pop("node2")
    os.killpg(process.pid, signal.SIGKILL)
    await asyncio.to_thread(process.wait)
    ctx.notes.append("node2 killed (SIGKILL to its process group)")
    return time.monotonic()


async def restart_node(ctx: FaultContext) -> None:
    ctx.topology.start_node("node2")
    await asyncio.to_thread(ctx.topology.wait_node, "node2")
    ctx.notes.append("node2 started again after the phase")


async def freeze_node(ctx: FaultContext) -> float:
    _signal_node(ctx, "node3", signal.SIGSTOP)
    await asyncio.sleep(FREEZE_SECONDS)
    _signal_node(ctx, "node3", signal.SIGCONT)
    ctx.notes.append(f"node3 frozen (SIGSTOP) for {FREEZE_SECONDS:g} s, then SIGCONT")
    return time.monotonic()


def _client(node: EmbeddedRedis) -> Redis:
    return Redis(host=HOST, port=node.port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


def _owner(nodes: list[EmbeddedRedis], slot: int) -> EmbeddedRedis | None:
    """The live master serving ``slot``, as the first live node that answers sees the cluster
    (``CLUSTER NODES``: a master counted failed is flagged ``fail``); None while no one does."""
    by_port = {node.port: node for node in nodes}
    for node in nodes:
        if node.process is None:
            continue
        try:
            with _client(node) as client:
                view: dict[str, dict[str, Any]] = client.cluster("NODES")
        except (RedisError, OSError):
            continue
        for address, entry in view.items():
            flags = str(entry.get("flags", ""))
            serves = any(int(r[0]) <= slot <= int(r[-1]) for r in entry.get("slots", []))
            if serves and "master" in flags and "fail" not in flags:
                owner = by_port.get(int(address.rsplit(":", 1)[1].split("@")[0]))
                return owner if owner is not None and owner.process is not None else None
        return None
    return None


def _keys_in_slot(node: EmbeddedRedis, slot: int) -> int:
    with _client(node) as client:
        return int(client.cluster("COUNTKEYSINSLOT", slot))


def _kill_master_and_wait(ctx: FaultContext) -> float:
    nodes = ctx.topology.valkey.nodes
    slot = key_slot(f"wr:{{{ctx.concert_id}}}:".encode())
    master = _owner(nodes, slot)
    if master is None or master.process is None:
        raise RuntimeError(f"no live master serves slot {slot}")
    keys_before = _keys_in_slot(master, slot)
    killed_at = time.monotonic()
    master.process.send_signal(signal.SIGKILL)
    master.process.wait()
    master.process = None
    deadline = killed_at + FAILOVER_LIMIT_SECONDS
    while (new_master := _owner(nodes, slot)) is None or new_master is master:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no replica took over slot {slot} within {FAILOVER_LIMIT_SECONDS:g} s")
        time.sleep(0.1)
    failover = time.monotonic() - killed_at
    keys_after = _keys_in_slot(new_master, slot)
    ctx.figures.update(failover_seconds=failover, queue_keys_before=keys_before, queue_keys_after=keys_after)
    ctx.notes.append(
        f"Valkey master :{master.port} (the sale's queue, slot {slot}) killed; replica :{new_master.port} "
        f"took over in {failover:.1f} s; the queue's keys: {keys_before} before, {keys_after} after"
    )
    return time.monotonic()


async def kill_valkey_master(ctx: FaultContext) -> float:
    return await asyncio.to_thread(_kill_master_and_wait, ctx)


def _restart_dead_valkey(ctx: FaultContext) -> None:
    for node in ctx.topology.valkey.nodes:
        if node.process is None:
            node.start()  # same ports and nodes.conf: it rejoins as a replica of its old replica
            ctx.notes.append(f"Valkey :{node.port} started again after the phase (now a replica)")


async def restart_dead_valkey(ctx: FaultContext) -> None:
    await asyncio.to_thread(_restart_dead_valkey, ctx)


def _restart_pgbouncer(ctx: FaultContext) -> None:
    bouncer = ctx.topology.bouncer
    assert bouncer is not None
    started = time.monotonic()
    bouncer.stop()
    bouncer.start()  # the same port
    ctx.notes.append(
        f"PgBouncer stopped (SIGINT, safe shutdown) and started again in {time.monotonic() - started:.1f} s"
    )


async def restart_pgbouncer(ctx: FaultContext) -> float:
    await asyncio.to_thread(_restart_pgbouncer, ctx)
    return time.monotonic()


FAULTS = [
    Fault("sale", "a flash sale, no fault", no_fault),
    Fault("kill-node", "an API node killed (SIGKILL)", kill_node, restart_node),
    Fault("freeze-node", f"an API node frozen {FREEZE_SECONDS:g} s (SIGSTOP, SIGCONT)", freeze_node),
    Fault(
        "kill-valkey-master", "the Valkey master of the sale's queue killed", kill_valkey_master, restart_dead_valkey
    ),
    Fault("restart-pgbouncer", "PgBouncer restarted", restart_pgbouncer),
]

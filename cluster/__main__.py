"""``python -m cluster`` (``make cluster``): a local production topology, until Ctrl-C or SIGTERM.

HAProxy in front of 3 API nodes (``ticketing serve``) and a ``ticketing worker``, on PostgreSQL
behind PgBouncer (transaction mode) and a 3-master Valkey cluster, started from Debian and PyPI
packages in ``.data/cluster`` (see ``topology.py``), in production mode with a bootstrapped
operator. ``--test`` (``make cluster-test``) instead runs a flash sale through the balancer and then
the faults one by one under load (``sale.py``, ``faults.py``), writes its report in
``bench/results/cluster-<timestamp>.md`` and stops: exit 0 when every check held. ``--smoke``
(``make cluster-smoke``, in CI) first runs a few fans through the pages' own path (sign-up with
the proof-of-work challenge, top-up, queue, seats, hold, payment) and checks that every node
served, then the same test, shorter. Everything it started is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import httpx
import msgspec
from chaos.balancer import SERVED_BY

from cluster.faults import FAULTS
from cluster.report import render
from cluster.sale import PhaseOptions, PhaseResult, harness_settings, run_phase
from cluster.topology import HOST, OPERATOR, VALKEY_NODE_TIMEOUT_MS, Topology
from ticketing.config import PROJECT_ROOT
from ticketing.devservers.embedded import EmbeddedPostgres, EmbeddedRedis, LocalPgBouncer

FANS = 6
FULL = PhaseOptions(fans=150, seats=200, pre=5, after=20)
SHORT = PhaseOptions(fans=40, seats=60, pre=3, after=12)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8080, help="HAProxy's port (default 8080; 0: any free one)")
    parser.add_argument("--dir", type=Path, default=PROJECT_ROOT / ".data" / "cluster", help="its folder (wiped)")
    parser.add_argument("--smoke", action="store_true", help="a few fans, then the short test; exit status")
    parser.add_argument("--test", action="store_true", help="the sale and the faults under load; exit status")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results", help="the report's folder")
    return parser.parse_args(argv)


def _terminate(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _fresh(work_dir: Path) -> None:
    """Stop the servers a killed earlier run left in the folder (by their pid files), then start
    from nothing."""
    if work_dir.exists():
        EmbeddedPostgres(work_dir / "postgres-replica").stop_stale()
        EmbeddedPostgres(work_dir / "postgres").stop_stale()
        for node in sorted((work_dir / "valkey").glob("node-*")):
            EmbeddedRedis(node).stop_stale()
        LocalPgBouncer(work_dir / "pgbouncer", 0).stop_stale()
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    _fresh(args.dir)
    topology = Topology(args.dir, port=args.port)
    started = time.monotonic()
    try:
        print(f"make cluster: starting in {args.dir}", flush=True)
        topology.start()
        print(
            f"\nready in {time.monotonic() - started:.0f} s\n"
            f"  fans and operators  {topology.url}  (operator {OPERATOR!r}, password in "
            f"{args.dir / 'operator-password'})\n"
            f"  HAProxy stats       http://{HOST}:{topology.stats_port}/\n"
            f"  nodes               {', '.join(f'http://{HOST}:{p}' for p in topology.node_ports)}\n"
            f"  metrics             GET /metrics with 'Authorization: Bearer {topology.metrics_token}'\n"
            f"  logs                {topology.logs}\n",
            flush=True,
        )
        if args.smoke:
            smoke(topology)
        if args.smoke or args.test:
            return test(topology, SHORT if args.smoke else FULL, args.out)
        print("Ctrl-C stops everything.", flush=True)
        while True:
            topology.ensure_running()
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except SmokeFailed as failed:
        print(f"smoke: FAIL: {failed}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"make cluster: {error}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        print("stopping ...", flush=True)
        killed = topology.stop()
        print(f"stopped{' (killed: ' + ', '.join(killed) + ')' if killed else ''}", flush=True)


# --- the smoke run ------------------------------------------------------------------------------


class SmokeFailed(RuntimeError):
    pass


def _ok(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in (expected or (200,)):
        raise SmokeFailed(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response


def _post_as_a_page_does(
    client: httpx.Client, path: str, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST, and on 428 CHALLENGE_REQUIRED solve the proof-of-work challenge the problem carries and
    send the request again with it, as the pages do: the topology runs with production settings,
    the gate on."""
    from ticketing.kernel.challenge import CHALLENGE_HEADER, Challenge, solve

    response = client.post(path, json=body, headers=headers)
    if response.status_code == 428:
        challenge = msgspec.convert(response.json()["challenge"], Challenge)
        response = client.post(path, json=body, headers={**(headers or {}), CHALLENGE_HEADER: solve(challenge)})
    return response


def smoke(topology: Topology) -> None:
    served: set[str] = set()

    def hook(response: httpx.Response) -> None:
        served.add(response.headers.get(SERVED_BY, "?"))

    with httpx.Client(base_url=topology.url, timeout=10, event_hooks={"response": [hook]}) as client:
        ready = _ok(client.get("/readyz")).json()
        print(f"  readyz: {ready['checks']['redis']['detail']}", flush=True)
        operator = _ok(
            client.post("/api/v1/auth/token", json={"name": OPERATOR, "password": topology.operator_password})
        )
        admin = {"Authorization": f"Bearer {operator.json()['access_token']}"}
        _ok(client.get(f"/api/v1/admin/concerts/{topology.concert_id}/dashboard", headers=admin), 200, 404)
        schedules_seen: list[int] = []
        paid = 0
        for n in range(FANS):
            name, password = f"fan{n}", f"fan-password-{n}"
            user = _ok(_post_as_a_page_does(client, "/api/v1/users", {"name": name, "password": password}), 201).json()
            token = _ok(client.post("/api/v1/auth/token", json={"name": name, "password": password})).json()
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            top_up = {**auth, "Idempotency-Key": f"top-up-{n}"}
            _ok(client.post(f"/api/v1/wallets/{user['wallet_id']}/charges", json={"amount": 100_000}, headers=top_up))
            queue = _ok(client.post(f"/api/v1/concerts/{topology.concert_id}/queue/tokens", headers=auth), 200, 201)
            q = {**auth, "X-Queue-Token": queue.json()["token"]}
            for _ in range(100):  # the worker admits every 0.1 s
                if _ok(client.get("/api/v1/queue/tokens/me", headers=q)).json()["status"] == "ACTIVE":
                    break
                time.sleep(0.1)
            else:
                raise SmokeFailed(f"{name} was not admitted")
            schedules = _ok(client.get(f"/api/v1/concerts/{topology.concert_id}/schedules", headers=q)).json()
            schedule_id = schedules[0]["id"] if isinstance(schedules, list) else schedules["items"][0]["id"]
            schedules_seen.append(schedule_id)
            seats = _ok(client.get(f"/api/v1/schedules/{schedule_id}/seats", headers=q)).json()
            seat_list = seats if isinstance(seats, list) else seats.get("seats", seats.get("items", []))
            seat = seat_list[n]["id"]
            hold = _ok(client.post("/api/v1/reservations", json={"seat_id": seat}, headers=q), 201).json()
            pay = {**q, "Idempotency-Key": f"pay-{n}"}
            _ok(client.post("/api/v1/payments", json={"reservation_id": hold["id"]}, headers=pay), 200, 201)
            paid += 1
        print(f"  {paid} fans paid through the balancer; nodes that answered: {sorted(served)}", flush=True)
        if len(served - {"?"}) < topology.nodes:
            raise SmokeFailed(f"not every node served: {sorted(served)}")
    print("smoke: the pages' path held", flush=True)


# --- the test: a sale, then the faults under load -------------------------------------------------


def test(topology: Topology, options: PhaseOptions, out: Path) -> int:
    started = time.monotonic()
    results = asyncio.run(_phases(topology, options))
    failed = [r for r in results if r.failures()]
    preamble = [
        f"{datetime.now(UTC).isoformat(timespec='seconds')}, {os.cpu_count()} cores (shared: wall-clock figures "
        f"are those of a busy machine). HAProxy (round robin, `/healthz` every 1 s, down after 2 failures, "
        f"retry and redispatch on a refused connection) in front of {topology.nodes} API nodes (`ticketing serve`, "
        "production settings: rate limits and the proof-of-work gate on) and a `ticketing worker`; PgBouncer "
        "(transaction mode) in front of PostgreSQL, which streams to a hot standby; a Valkey cluster of 3 masters "
        f"each with a replica, cluster-node-timeout {VALKEY_NODE_TIMEOUT_MS} ms.",
        "",
        f"Per phase: a new concert of {options.seats} seats and {options.fans} funded fans arriving over the first "
        f"{options.pre + options.after / 3:g} s, every request through HAProxy from an address of its own; "
        f"{options.pre:g} s of load, the fault, {options.after:g} s of load after it. Total "
        f"{time.monotonic() - started:.0f} s.",
        "",
        'Fails on: a broken invariant (a seat sold twice, a won unaccounted), a fan told "paid" whose payment is '
        "not in the database or the other way round, one key answered two ways, a 500, a fan still waiting at the "
        "end while seats are free, a 5xx / network error / hung request outside the fault's blip.",
    ]
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"cluster-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.md"
    report.write_text(render(preamble, options, results) + "\n")
    for r in results:
        blip, outside = r.failed_answers()
        bought = sum(1 for t in r.journal.trails if t.told_paid)
        print(
            f"  {r.fault.key:<20} {bought:>4} bought  failed answers in the blip {sum(blip.values()):>3}, outside "
            f"{sum(outside.values())}  {'FAIL' if r.failures() else 'PASS'}",
            flush=True,
        )
        for failure in r.failures():
            print(f"    {failure}", flush=True)
    print(f"report: {report.relative_to(PROJECT_ROOT) if report.is_relative_to(PROJECT_ROOT) else report}")
    if failed:
        raise SmokeFailed(f"{len(failed)} of {len(results)} phases failed: {', '.join(r.fault.key for r in failed)}")
    print("cluster test: PASS", flush=True)
    return 0


async def _phases(topology: Topology, options: PhaseOptions) -> list[PhaseResult]:
    settings = harness_settings(topology)
    results: list[PhaseResult] = []
    for fault in FAULTS:
        print(f"  phase {fault.key}: {fault.title} ...", flush=True)
        results.append(await run_phase(topology, settings, options, fault))
        topology.ensure_running()
    return results


if __name__ == "__main__":
    sys.exit(main())

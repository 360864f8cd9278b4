"""``python -m chaos`` (``make chaos``) / ``python -m chaos --smoke`` (``make chaos-smoke``, CI).

Starts its own PostgreSQL and Valkey, migrates, starts the service as in production behind the
faulty proxies, runs each scenario, writes ``bench/results/chaos-<timestamp>.md`` and exits
non-zero on a correctness failure (or a harness error), never on a slow recovery. Everything it
started is stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from chaos.fans import REFUND_SHARE, SERIAL_SHARE
from chaos.phase import PhaseOptions, ScenarioResult, check_lapsed_holds, heal, run_phase
from chaos.report import render
from chaos.scenarios import ALL, SMOKE_KEYS, Scenario, by_key
from chaos.stack import NODES, STOP_GRACE_SECONDS, WORKERS_PER_NODE, Stack
from ticketing.cli import migrate
from ticketing.config import PROJECT_ROOT, Settings

SEATS = 300
MAX_REFUNDS_UNKNOWN = -1  # read from the service's settings once they are loaded


def patience(hold_seconds: int) -> float:
    """How long a fan who sees no free seat keeps looking: past a hold's life and the sweep
    that releases it, so that a seat someone walked away from finds a buyer."""
    return hold_seconds + 5.0


def service_settings(hold_seconds: int, challenge_join_waiting: int | None = None) -> dict[str, str]:
    """The service's knobs for the run: short holds so that abandoned holds lapse within a
    phase, and a queue that admits steadily (the sale, not the admission rate, is under test).
    Everything else is production's: the rate limits, the per-address hold cap, the refund cap
    and the proof-of-work gate are on with their defaults (each fan has an address of its own)."""
    knobs = {
        "TICKETING_HOLD_SECONDS": str(hold_seconds),
        "TICKETING_QUEUE_MAX_ACTIVE": "150",
        "TICKETING_QUEUE_ADMIT_PER_SECOND": "100",
        "TICKETING_QUEUE_ACTIVE_TTL_SECONDS": "120",
    }
    if challenge_join_waiting is not None:  # the gate sooner: fewer fans than production's threshold
        knobs["TICKETING_CHALLENGE_JOIN_WAITING"] = str(challenge_join_waiting)
    return knobs


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="CI: fewer fans, short phases, 4 scenarios")
    parser.add_argument("--scenarios", help=f"comma-separated, from: {', '.join(s.key for s in ALL)}")
    parser.add_argument("--fans", type=int, help="fans per scenario (default 300; smoke 100)")
    parser.add_argument(
        "--challenge-join-waiting",
        type=int,
        metavar="N",
        help="joins need a proof-of-work solution once N fans wait (default: production's, 1000; 0 = every join)",
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results")
    return parser.parse_args(argv)


def _terminate(signum: int, _: FrameType | None) -> None:
    # SIGTERM ends the run like Ctrl-C does: the finally blocks stop everything we started.
    raise KeyboardInterrupt(f"signal {signum}")


async def run(stack: Stack, options: PhaseOptions, scenarios: list[Scenario], hold_seconds: int) -> tuple[str, bool]:
    started = time.monotonic()
    main_task = asyncio.current_task()
    assert main_task is not None
    # Inside the loop, SIGTERM cancels the run: the finally below stops the service first.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    print(f"chaos: starting PostgreSQL and Valkey in {stack.work_dir}", flush=True)
    await asyncio.to_thread(stack.start_servers)
    await stack.start_proxies()
    await asyncio.to_thread(migrate, stack.direct_database_url)  # alembic runs its own event loop
    settings = Settings(
        env="local",
        database_url=stack.direct_database_url,
        redis_url=stack.direct_redis_url,
        data_dir=stack.service_data,
        db_pool_size=2,
    )
    options = dataclasses.replace(options, max_refunds=settings.max_refunds_per_fan_per_date)
    stack.launch_service()
    await stack.wait_ready()
    stack.start_balancer()
    await stack.wait_balancer()
    results: list[ScenarioResult] = []
    violations: dict[str, int] = {}
    shutdown: list[str] = []
    try:
        for scenario in scenarios:
            print(f"chaos: scenario {scenario.key} ({scenario.title}) ...", flush=True)
            result, violations = await run_phase(stack, settings, options, scenario, violations)
            results.append(result)
            print(f"  {len(result.journal.answers):,} answers, {result.journal.bought} bought", flush=True)
        await heal(stack, [])
        await check_lapsed_holds(stack, results, hold_seconds)
    finally:
        print("chaos: stopping the service (SIGTERM, as a supervisor would)", flush=True)
        left = await stack.stop_service()
        shutdown += [f"pid {p.pid} still running {STOP_GRACE_SECONDS:.0f} s after SIGTERM" for p in left]
        stack.stop_balancer()
        await stack.stop_proxies()
    await asyncio.to_thread(stack.close)
    shutdown += [f"pid {p.pid} {' '.join(p.cmdline()[:3])}" for p in stack.leftovers()]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    preamble = [
        f"{datetime.now(UTC).isoformat(timespec='seconds')}, {os.cpu_count()} cores, load average at the end "
        f"{load}. Own PostgreSQL and Valkey behind the harness's TCP proxies (a process of their own); "
        f"{NODES} `ticketing serve` nodes ({WORKERS_PER_NODE} granian workers each, jobs off) behind HAProxy "
        f"(round robin, health checks, redispatch), plus `ticketing worker`; production rate limits, per-address "
        f"hold cap ({settings.max_holds_per_address}), refund cap ({settings.max_refunds_per_fan_per_date} per fan "
        f"and date) and proof-of-work gate (joins past {settings.challenge_join_waiting} waiting), each fan from "
        f"an address of its own. "
        f"Per scenario: a new concert of {SEATS} seats (sell-out: half as many as fans), {options.fans} fans "
        f"arriving over the phase; {REFUND_SHARE:.0%} of buyers refund ({SERIAL_SHARE:.0%} of them again and again, "
        f"up to the cap); "
        f"{options.pre:g} s of load, the fault ({options.fault:g} s unless stated), at least "
        f"{options.recovery:g} s of recovery, then the fans on their way go on while the sale moves. Holds last "
        f"{hold_seconds} s; client timeout 10 s. Total {time.monotonic() - started:.0f} s.",
        "",
        "Targets: 0 invariant violations, 0 answers 500, 0 same-key answers that differ, 0 refund answers the "
        "database contradicts, 0 fans over the refund cap, 0 seats neither sold nor for sale, 0 fans with no end "
        "state and 0 processes left behind are correctness (**FAIL** fails the run); recovery ≤ 5 s after a "
        "dependency returns (≤ 10 s "
        "after a full restart) and 0 hung requests are measurements (**SHORT** is reported, the run does not "
        "fail). A 503 SERVICE_UNAVAILABLE during a fault, a 409 SEAT_UNAVAILABLE and a 429 RATE_LIMITED are "
        "normal answers.",
    ]
    return render("Fault injection report", preamble, results, shutdown)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    keys = args.scenarios.split(",") if args.scenarios else list(SMOKE_KEYS if args.smoke else [s.key for s in ALL])
    scenarios = by_key([k.strip() for k in keys])
    if args.smoke:
        hold_seconds = 8
        options = PhaseOptions(args.fans or 100, SEATS, 3, 3, 4, patience(hold_seconds), MAX_REFUNDS_UNKNOWN)
    else:
        hold_seconds = 20
        options = PhaseOptions(args.fans or 300, SEATS, 6, 5, 12, patience(hold_seconds), MAX_REFUNDS_UNKNOWN)
    signal.signal(signal.SIGTERM, _terminate)
    work_dir = Path(tempfile.mkdtemp(prefix="ticketing-chaos-"))
    stack = Stack(work_dir, service_settings(hold_seconds, args.challenge_join_waiting))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    logs = args.out / f"chaos-{stamp}-logs"
    try:
        report, correct = asyncio.run(run(stack, options, scenarios, hold_seconds))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("chaos: interrupted; everything it started is being stopped", file=sys.stderr, flush=True)
        return 130
    finally:
        stack.close()
        stack.keep_logs(logs)
        stack.discard()
    path = args.out / f"chaos-{stamp}.md"
    report += f"\nService and server logs of this run: `{logs.name}/` beside this report.\n"
    path.write_text(report)
    print(report, flush=True)
    print(f"report: {_shown(path)}  logs: {_shown(logs)}", flush=True)
    return 0 if correct else 1


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())

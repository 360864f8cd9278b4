"""``python -m bench`` (``make bench``, ``make bench-smoke``): the flash-sale load test; and
``python -m bench users`` (bulk-created funded fans with signed access tokens, for an outside
load tool). The benchmark is a package of its own: it starts the service like an operator does
(``ticketing serve`` + ``ticketing worker``), loads it over HTTP and audits the database; the
service never imports it."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="the flash-sale load test (make bench)")
    parser.add_argument("--smoke", action="store_true", help="a run of seconds that CI uses so the bench cannot rot")
    parser.add_argument("--duration", type=float, help="seconds per workload (default 10)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 64)")
    parser.add_argument("--fans", type=int, help="fans per endpoint/strategy phase (default 2000)")
    parser.add_argument("--sale-fans", type=int, help="fans of the end-to-end flash sale (default 10000)")
    parser.add_argument("--strategies", help="comma-separated seat lock strategies (default: all)")
    parser.add_argument(
        "--issue-fans", type=int, help="new fans for token issue, one per request (default 1.5 x duration x 10,000)"
    )
    parser.add_argument("--flood-only", action="store_true", help="only the sign-in flood (phase 4)")
    parser.add_argument(
        "--burst-only", action="store_true", help="only the lock study's burst (phase 2b), for --strategies"
    )
    parser.add_argument(
        "--fairness-only", action="store_true", help="only fairness under bots (phase 3b): fans like the page vs bots"
    )
    parser.add_argument(
        "--venues-only",
        action="store_true",
        help="only the venue phase: the 60,000-seat date, its seat map and its sell-through (first/last 1 %%)",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only the floor, token issue, the opening second, the hold race and payment (A/B runs)",
    )
    parser.add_argument("--opening-fans", type=int, help="fans of the opening second (default 20,000)")
    parser.add_argument("--fairness-fans", type=int, help="fans of each fairness sale, F (default 400)")
    parser.add_argument("--fairness-bots", help="comma-separated bot counts B, one row each (default 10,50,100,200)")
    parser.add_argument("--fairness-seats", type=int, help="seats of each fairness sale, S (default 250)")
    parser.add_argument("--fairness-sales", type=int, help="sales per B, pooled (default 3)")
    parser.add_argument("--bursts", type=int, help="recorded bursts per strategy and size (default 10)")
    parser.add_argument("--burst-sizes", help="comma-separated fans per burst (default 16,64,256; 0: none)")
    parser.add_argument(
        "--several-seat-sizes", help="comma-separated fans per several-seat burst (default 16,64; 0: none)"
    )
    commands = parser.add_subparsers(dest="command")
    users = commands.add_parser("users", help="bulk-create funded fans with signed access tokens (JSON lines)")
    users.add_argument("--count", type=int, required=True)
    users.add_argument("--balance", type=int, default=1_000_000, help="won per wallet (a CHARGE ledger row each)")
    users.add_argument("--out", type=Path, required=True, help="output file, one JSON object per line")
    return parser


def run_bench(args: argparse.Namespace) -> int:
    from bench.runner import BenchOptions
    from bench.runner import main as bench_main
    from ticketing.kernel.locking import SEAT_LOCK_STRATEGIES

    options = BenchOptions.smoke() if args.smoke else BenchOptions()
    for name in ("duration", "connections", "fans", "sale_fans", "issue_fans", "bursts", "opening_fans"):
        if getattr(args, name) is not None:
            setattr(options, name, getattr(args, name))
    if args.strategies:
        strategies = tuple(s.strip() for s in args.strategies.split(","))
        unknown = [s for s in strategies if s not in SEAT_LOCK_STRATEGIES]
        if unknown:
            print(f"unknown strategies {unknown}; known: {', '.join(SEAT_LOCK_STRATEGIES)}", file=sys.stderr)
            return 2
        options.strategies = strategies
    if args.burst_sizes:
        options.burst_sizes = tuple(int(size) for size in args.burst_sizes.split(",") if int(size))
    if args.several_seat_sizes:
        options.several_seat_sizes = tuple(int(size) for size in args.several_seat_sizes.split(",") if int(size))
    if args.fairness_fans is not None:
        options.fairness.fans = args.fairness_fans
    if args.fairness_bots:
        options.fairness.bots = tuple(int(bots) for bots in args.fairness_bots.split(","))
    if args.fairness_seats is not None:
        options.fairness.seats = args.fairness_seats
    if args.fairness_sales is not None:
        options.fairness.sales = args.fairness_sales
    options.flood_only = args.flood_only
    options.fairness_only = args.fairness_only
    options.venues_only = args.venues_only
    options.burst_only = args.burst_only
    options.speed_only = args.speed_only
    return bench_main(options)


def write_users(args: argparse.Namespace) -> int:
    from bench.fixtures import create_fans, write_jsonl
    from ticketing.cli import with_services
    from ticketing.config import get_settings
    from ticketing.container import Services

    async def write(services: Services) -> None:
        started = time.perf_counter()
        fans = await create_fans(services, args.count, args.balance)
        write_jsonl(fans, args.out)
        print(f"{len(fans):,} fans written to {args.out} in {time.perf_counter() - started:.1f} s")

    os.environ.setdefault("TICKETING_ENV", "local")  # a harness of local servers (production is the default)
    get_settings.cache_clear()
    asyncio.run(with_services(get_settings(), write))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return write_users(args) if args.command == "users" else run_bench(args)


if __name__ == "__main__":
    sys.exit(main())

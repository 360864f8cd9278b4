"""``python -m bench.capacity`` (``make capacity``): measure this machine's per-request costs and a
300-fan sale, check the model against that sale, then size sales of 10^5, 10^6 and 10^7 fans;
report, plot and the measurements in ``bench/results/capacity-<timestamp>/``.
``--costs FILE`` reuses the measurements of an earlier run (no service is started)."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from bench.capacity.measure import MeasuredSale, Measurements, measure
from bench.capacity.model import (
    KINDS,
    PEAK_WINDOW_S,
    Node,
    Sale,
    SaleResult,
    Sizing,
    UnitCost,
    percentile,
    simulate,
    size,
)
from ticketing.config import PROJECT_ROOT

# The sales sized: (fans, seats, admissions/s). max_active follows from the admission rate: the
# places a fan keeps from admission to payment, or admission stalls on the cap instead of the rate
# (with the default 1,000 and ~55 s per fan, ~18 purchases/s whatever the rate).
SCENARIOS = ((100_000, 5_000, 200), (1_000_000, 50_000, 500), (10_000_000, 100_000, 1_000))
PAGE_FAN = Sale(fans=1, seats=1)  # the page's defaults: choose 20 s, pay 30 s, 1 in 10 walk away


def unit(measurements: Measurements, kind: str) -> UnitCost:
    cost = measurements.cost(kind)
    return UnitCost(cost.cpu_ms, cost.redis_commands, cost.write_transactions, cost.wal_bytes)


def node_of(measurements: Measurements) -> Node:
    idle = measurements.idle
    return Node(
        cores=measurements.cores,
        idle=UnitCost(idle.cpu_seconds * 1000, idle.redis_commands, idle.write_transactions, idle.wal_bytes),
    )


def costs_of(measurements: Measurements) -> dict[str, UnitCost]:
    return {kind: unit(measurements, kind) for kind in KINDS}


def scenario(fans: int, seats: int, admit: int) -> Sale:
    places = math.ceil(admit * (PAGE_FAN.choose_seconds + PAGE_FAN.pay_seconds + 10) / 1000) * 1000
    return replace(PAGE_FAN, fans=fans, seats=seats, admit_per_second=admit, max_active=places)


def measured_sale_model(sale: MeasuredSale) -> Sale:
    """The bench's sale as the model sees it: everyone joins at once, polls every 0.5-1 s, acts at
    once; hold attempts per fan who held as measured (lost races are not modelled)."""
    holders = sale.bought + sale.abandoned
    return Sale(
        fans=sale.fans,
        seats=sale.seats,
        arrival_seconds=0.0,
        admit_per_second=sale.admit_per_second,
        max_active=sale.max_active,
        active_ttl_seconds=30,
        hold_seconds=sale.hold_seconds,
        hold_attempts=sale.requests["hold"] / holders if holders else 1.0,
        request_seconds=sale.poll_seconds,
        polling="bench",
        time_limit=60.0,
    )


def _ratio(model: float, measured: float) -> str:
    return f"{model / measured:.2f}" if measured else "-"


def validation_lines(measurements: Measurements, result: SaleResult) -> list[str]:
    sale = measurements.sale
    costs = costs_of(measurements)
    totals = result.totals()
    usage = sale.usage
    lost = unit(measurements, "hold_lost")

    def from_counts(counts: dict[str, float], field: str) -> float:
        total = 0.0
        for kind in KINDS:
            cost = costs[kind]
            if kind == "hold":  # winners at the hold's cost, losers at the lost race's
                winners = sale.bought + sale.abandoned
                total += winners * getattr(cost, field) + (counts[kind] - winners) * getattr(lost, field)
            else:
                total += counts[kind] * getattr(cost, field)
        return total

    measured_counts = {kind: float(sale.requests.get(kind, 0)) for kind in KINDS}
    idle_seconds = usage.seconds
    idle = measurements.idle
    rows = [
        "| | measured | model | model / measured |",
        "|---|---:|---:|---:|",
    ]
    for kind in KINDS:
        model, measured = totals[kind], measured_counts[kind]
        rows.append(f"| {kind} requests | {measured:,.0f} | {model:,.0f} | {_ratio(model, measured)} |")
    last_paid = result.sold_at(1.0)
    rows.append(
        f"| last seat paid, s from the first join | {sale.last_payment_seconds:.1f} | {last_paid:.1f} | "
        f"{_ratio(last_paid, sale.last_payment_seconds)} |"
    )
    rows.append(f"| seats sold | {sale.bought} | {result.bought} | {_ratio(result.bought, sale.bought)} |")
    for label, field, scale, idle_rate in (
        ("service CPU, s", "cpu_ms", 1 / 1000, idle.cpu_seconds),
        ("Redis commands", "redis_commands", 1.0, idle.redis_commands),
        ("PostgreSQL write transactions", "write_transactions", 1.0, idle.write_transactions),
        ("WAL, kB", "wal_bytes", 1 / 1000, idle.wal_bytes / 1000),
    ):
        measured = getattr(usage, {"cpu_ms": "cpu_seconds"}.get(field, field)) * (
            1 if field != "wal_bytes" else 1 / 1000
        )
        predicted = from_counts(totals, field) * scale + idle_rate * idle_seconds
        costed = from_counts(measured_counts, field) * scale + idle_rate * idle_seconds
        rows.append(
            f"| {label} | {measured:,.2f} | {predicted:,.2f} (measured requests x costs: {costed:,.2f}) | "
            f"{_ratio(predicted, measured)} |"
        )
    return [
        "## The model against a measured sale",
        "",
        f"The bench's flash sale (`bench.workloads.FlashSale`): {sale.fans} fans join at once for {sale.seats} seats "
        f"(one date), admission {sale.admit_per_second}/s, at most {sale.max_active} admitted, holds of "
        f"{sale.hold_seconds} s; fans poll every 0.5-1 s, hold a free seat (choosing again when beaten), one in ten "
        f"walks away. Measured: {sale.bought} bought, {sale.abandoned} walked away, {sale.told_sold_out} told sold "
        f"out, {sale.gave_up} gave up; {sale.seconds:.1f} s until every journey ended; a poll took "
        f"{sale.poll_seconds * 1000:.0f} ms on average (added to the model's poll cycle). The model runs the same sale "
        "(hold attempts per fan who held taken from the measurement: lost races are not modelled); the costs are "
        "checked twice: the measured requests x the per-request costs (does cost add up?), and the model's requests "
        "x the costs (does the whole model add up?). The idle service's own spending over the same time is added "
        "to both.",
        "",
        *rows,
        "",
    ]


def sizing_lines(sizings: list[Sizing], results: list[SaleResult], node: Node) -> list[str]:
    rows = [
        "| fans | seats | admitted/s (max active) | joins/s | polls/s | API nodes | CPU cores | Redis cmds/s | "
        "PG writes/s | WAL MB/s | 90 % sold | last seat | buyers' wait p50 / p99 | told sold out p50 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sizing, result in zip(sizings, results, strict=True):
        sale = sizing.sale
        rows.append(
            f"| {sale.fans:,} | {sale.seats:,} | {sale.admit_per_second:,} ({sale.max_active:,}) | "
            f"{sizing.peak['join']:,.0f} | {sizing.peak['poll']:,.0f} | {sizing.api_nodes} | "
            f"{sizing.peak_cores:,.1f} | "
            f"{sizing.peak_redis_commands:,.0f} | {sizing.peak_write_transactions:,.0f} | "
            f"{sizing.peak_wal_bytes / 1e6:,.2f} | {result.sold_at(0.9):,.0f} s | {result.sold_at(1.0):,.0f} s | "
            f"{percentile(result.waits, 0.5):,.0f} / {percentile(result.waits, 0.99):,.0f} s | "
            f"{percentile(result.sold_out_told_after, 0.5):,.0f} s |"
        )
    return [
        "## Sizing",
        "",
        f"Peaks are the worst {PEAK_WINDOW_S} s. API nodes: {node.cores}-core nodes like this machine, at most "
        f"{node.utilisation:.0%} busy at the peak, at least two. Fans join spread over "
        f"{PAGE_FAN.arrival_seconds:.0f} s, poll when `poll_after_ms` says (60 s grace: every 20 s far back, every "
        f"second near the front, every 5 s once admitted), take {PAGE_FAN.choose_seconds:.0f} s to choose and "
        f"{PAGE_FAN.pay_seconds:.0f} s to pay; one in ten walks away from a hold, whose seat is sold again after the "
        "5-minute hold (hence the 'last seat' long after '90 % sold'). Buyers' wait: from the join to seeing "
        "the admission. Redis and PostgreSQL figures add each node's idle spending (queue-view syncs, jobs).",
        "",
        *rows,
        "",
    ]


def cost_lines(measurements: Measurements) -> list[str]:
    rows = [
        "| request | requests | CPU ms | Redis commands | PG write transactions | WAL bytes | statuses | "
        "Redis commands by name |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for cost in measurements.costs:
        rows.append(
            f"| {cost.kind} | {cost.requests} | {cost.cpu_ms:.2f} | {cost.redis_commands:.2f} | "
            f"{cost.write_transactions:.2f} | {cost.wal_bytes:,.0f} | {cost.statuses} | "
            f"{', '.join(f'{name} {calls:g}' for name, calls in cost.redis_by_command.items())} |"
        )
    idle = measurements.idle
    return [
        "## Per-request costs on this machine",
        "",
        f"Measured {measurements.measured_at}: {measurements.cores} cores, `ticketing serve` with "
        f"{measurements.service_workers} granian workers on embedded PostgreSQL and Valkey, load average "
        f"{measurements.load_average} (the machine is shared: CPU time per request is counted on the service's "
        f"processes, which other load moves far less than wall-clock rates). Each row: N requests of one kind "
        "sent 32 at a time, the servers' counters before and after, less the idle service's spending over the same "
        f"time ({idle.cpu_seconds * 1000:.1f} CPU ms, {idle.redis_commands:.1f} Redis commands, "
        f"{idle.write_transactions:.2f} write transactions per second). Memory: "
        f"{measurements.memory_mb_per_worker:.0f} MB per granian worker.",
        "",
        *rows,
        "",
    ]


def plot(sizings: list[Sizing], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    for sizing in sizings:
        label = f"{sizing.sale.fans:,} fans, {sizing.sale.seats:,} seats"
        for axis, key in zip(axes, ("cores", "redis", "writes"), strict=True):
            series = sizing.series[key]
            axis.plot(range(len(series)), series, label=label, linewidth=0.9)
    axes[0].set_ylabel("API CPU cores busy")
    axes[1].set_ylabel("Redis commands / s")
    axes[2].set_ylabel("PostgreSQL write transactions / s")
    axes[2].set_xlabel("seconds from the first join")
    for axis in axes:
        axis.set_yscale("symlog", linthresh=10)
        axis.grid(alpha=0.3)
    axes[0].set_title("A sale's load over time (capacity model, this machine's per-request costs)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = out / "capacity.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--costs", type=Path, help="measurements.json of an earlier run: no service is started")
    parser.add_argument("--fans", type=int, default=300, help="requests of each kind measured (default 300)")
    parser.add_argument("--sale-fans", type=int, default=300, help="fans of the measured sale (default 300)")
    parser.add_argument("--sale-seats", type=int, default=30, help="seats of the measured sale (default 30)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.costs:
        measurements = msgspec.json.decode(args.costs.read_bytes(), type=Measurements)
    else:
        measurements = asyncio.run(measure(args.fans, args.sale_fans, args.sale_seats))
    out = args.out / f"capacity-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "measurements.json").write_bytes(msgspec.json.format(msgspec.json.encode(measurements)))
    node, costs, lost = node_of(measurements), costs_of(measurements), unit(measurements, "hold_lost")

    print("capacity: the model against the measured sale", flush=True)
    check = simulate(measured_sale_model(measurements.sale))
    lines = [f"# Capacity model — {measurements.measured_at}", ""]
    lines += cost_lines(measurements)
    lines += validation_lines(measurements, check)
    sizings, results = [], []
    for fans, seats, admit in SCENARIOS:
        print(f"capacity: simulating {fans:,} fans for {seats:,} seats ...", flush=True)
        result = simulate(scenario(fans, seats, admit))
        results.append(result)
        sizings.append(size(result, costs, node, lost))
    lines += sizing_lines(sizings, results, node)
    lines += [f"![load over time]({plot(sizings, out).name})", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    print("\n".join(lines), flush=True)
    print(f"\nreport: {report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

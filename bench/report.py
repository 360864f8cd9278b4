"""Tables for the terminal and the markdown report, and the PNG plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.client import Recorder, server_cpu_per_request_us
from bench.loadgen import LoadResult


def row(recorder: Recorder, baseline: Recorder | None) -> str:
    errors = {code: n for code, n in recorder.codes.items() if code != "OK"}
    ratio = f"{recorder.throughput / baseline.throughput:.2f}" if baseline and baseline.throughput else "—"
    return (
        f"| {recorder.name} | {recorder.count:,} | {recorder.throughput:,.0f} | "
        f"{recorder.percentile(0.5) * 1000:.1f} | {recorder.percentile(0.95) * 1000:.1f} | "
        f"{recorder.percentile(0.99) * 1000:.1f} | {recorder.server_errors} | "
        f"{', '.join(f'{c} {n:,}' for c, n in sorted(errors.items())) or '—'} | "
        f"{ratio}{f' of {baseline.name}' if baseline else ''} |"
    )


TABLE_HEAD = (
    "| workload | requests | req/s | p50 ms | p95 ms | p99 ms | 5xx | answers other than 2xx, by code | vs baseline |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---|"
)


def table(rows: Sequence[tuple[Recorder, Recorder | None]]) -> str:
    return "\n".join([TABLE_HEAD, *(row(r, b) for r, b in rows)])


def ratio(result: LoadResult, floor: LoadResult) -> float:
    return result.throughput / floor.throughput if floor.throughput else 0.0


def verdict(result: LoadResult, floor: LoadResult, target: float, p99_limit: float) -> tuple[bool, str]:
    """PASS needs all three: the ratio to the floor, p99 within the limit, and no error at all."""
    reasons = []
    if ratio(result, floor) < target:
        reasons.append(f"{ratio(result, floor):.2f} x F_http < {target:.2f}")
    if result.p99 > p99_limit:
        reasons.append(f"p99 {result.p99 * 1000:.1f} ms > {p99_limit * 1000:.0f} ms")
    if result.errors:
        reasons.append(f"errors: {result.describe_errors()}")
    return not reasons, "; ".join(reasons)


def read_path_table(
    results: Sequence[LoadResult], floor: LoadResult, targets: dict[str, float], p99_limit: float
) -> str:
    lines = [
        "| workload | req/s | p99 ms | errors | x F_http | target | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        target = targets[result.name]
        passed, why = verdict(result, floor, target, p99_limit)
        lines.append(
            f"| {result.name} | {result.throughput:,.0f} | {result.p99 * 1000:.1f} | {result.errors:,} | "
            f"{ratio(result, floor):.2f} | ≥ {target:.2f} | {'PASS' if passed else f'**SHORT** ({why})'} |"
        )
    return "\n".join(lines)


def load_table(rows: Sequence[tuple[LoadResult, LoadResult | None]], floor: LoadResult) -> str:
    """Every wrk-driven (or fallback) workload in detail, with the generator's own CPU time."""
    lines = [
        "| workload | generator | requests | distinct requests | req/s | p50 ms | p99 ms | answers other than 2xx "
        "| x F_http | vs baseline | generator CPU µs/req | server CPU µs/req |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---|---:|---:|",
    ]
    for result, baseline in rows:
        versus = (
            f"{result.throughput / baseline.throughput:.2f} of {baseline.name}"
            if baseline and baseline.throughput
            else "—"
        )
        cpu = result.cpu_per_request_us
        lines.append(
            f"| {result.name} | {result.generator} | {result.requests:,} | {result.distinct:,} | "
            f"{result.throughput:,.0f} | {result.p50 * 1000:.1f} | {result.p99 * 1000:.1f} | "
            f"{result.describe_errors()} | {ratio(result, floor):.2f} | {versus} | "
            f"{'—' if cpu is None else f'{cpu:.1f}'} | {_us(result.server_cpu_per_request_us)} |"
        )
    return "\n".join(lines)


def cpu_table(rows: Sequence[tuple[str, int, float | None]], floor: LoadResult) -> str:
    """The served processes' CPU time per request of every workload, rows of (name, requests,
    server CPU seconds), against the floor's: ``x floor`` is the floor's CPU per request over ours,
    the CPU counterpart of ``x F_http`` (1.00: as cheap as a bare Litestar answer). Unlike a rate,
    it hardly moves with other load on the machine: the figure to judge a change by."""
    floor_us = floor.server_cpu_per_request_us
    lines = [
        f"| workload | requests | server CPU s | server CPU µs/req | x floor ({_us(floor_us)} µs/req) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, requests, cpu_seconds in rows:
        per_request = server_cpu_per_request_us(cpu_seconds, requests)
        versus = f"{floor_us / per_request:.2f}" if floor_us and per_request else "—"
        seconds = "—" if cpu_seconds is None else f"{cpu_seconds:.2f}"
        lines.append(f"| {name} | {requests:,} | {seconds} | {_us(per_request)} | {versus} |")
    return "\n".join(lines)


def cpu_rows(loads: Sequence[LoadResult], recorders: Sequence[Recorder]) -> list[tuple[str, int, float | None]]:
    return [(r.name, r.requests, r.server_cpu_seconds) for r in loads] + [
        (r.name, r.count, r.server_cpu_seconds) for r in recorders
    ]


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def generator_line(floor: LoadResult, python_floor: LoadResult | None, cores: int) -> str:
    """How much of the machine the load generator took, and how far the Python client gets."""

    def cost(result: LoadResult) -> str:
        if result.cpu_seconds is None or not result.seconds:
            return ""
        share = result.cpu_seconds / result.seconds
        return (
            f", using {result.cpu_per_request_us:.1f} µs of CPU per request "
            f"({share:.2f} of a core, {share / cores:.0%} of the machine's {cores} cores)"
        )

    text = f"Generator: {floor.generator} reached F_http = {floor.throughput:,.0f} req/s on the floor{cost(floor)}."
    if python_floor is not None and python_floor is not floor:
        text += (
            f" The Python client reached {python_floor.throughput:,.0f} req/s on the same floor"
            f"{cost(python_floor)}: {ratio(python_floor, floor):.2f} of {floor.generator}'s rate."
        )
    if floor.generator != "wrk":
        text += (
            " **wrk was not installed: every ratio to F_http is bounded by the Python load generator, "
            "not by the service.**"
        )
    return text


def plots(recorders: Sequence[Recorder], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    for rec in recorders:
        if not rec.ends:
            continue
        seconds = int(max(rec.ends)) + 1
        per_second = [0] * seconds
        worst: list[list[float]] = [[] for _ in range(seconds)]
        for end, latency in zip(rec.ends, rec.latencies, strict=True):
            per_second[int(end)] += 1
            worst[int(end)].append(latency)
        xs = list(range(seconds))
        top.plot(xs, per_second, label=rec.name)
        p99 = [sorted(b)[int(0.99 * (len(b) - 1))] * 1000 if b else 0 for b in worst]
        bottom.plot(xs, p99, label=rec.name)
    top.set_ylabel("requests per second")
    top.set_title("Throughput over time (each workload from its own start)")
    bottom.set_ylabel("p99 latency, ms (per second)")
    bottom.set_xlabel("seconds")
    top.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = out_dir / "throughput_and_latency_over_time.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)

    fig, axis = plt.subplots(figsize=(11, 5))
    for rec in recorders:
        if rec.latencies:
            axis.hist([x * 1000 for x in rec.latencies], bins=100, histtype="step", label=rec.name, log=True)
    axis.set_xlabel("latency, ms")
    axis.set_ylabel("requests (log)")
    axis.set_title("Latency histogram")
    axis.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = out_dir / "latency_histogram.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)
    return files


def write_targets_table(
    results: Sequence[tuple[str, float, float, int]], floor: LoadResult, targets: dict[str, tuple[float, float]]
) -> tuple[str, list[str]]:
    """The write targets as ratios to the floor: rows of (name, req/s, p99 seconds, 5xx and broken
    connections). PASS needs the ratio, the p99 limit and no server error (a 409 of a race is an
    answer, not an error). Returns the table and a line per SHORT."""
    lines = [
        "| workload | req/s | p99 ms | 5xx | x F_http | target | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    shorts = []
    for name, throughput, p99, server_errors in results:
        target, p99_limit = targets[name]
        achieved = throughput / floor.throughput if floor.throughput else 0.0
        reasons = []
        if achieved < target:
            reasons.append(f"{achieved:.2f} x F_http < {target:.2f}")
        if p99 > p99_limit:
            reasons.append(f"p99 {p99 * 1000:.1f} ms > {p99_limit * 1000:.0f} ms")
        if server_errors:
            reasons.append(f"{server_errors} server errors")
        why = "; ".join(reasons)
        lines.append(
            f"| {name} | {throughput:,.0f} | {p99 * 1000:.1f} | {server_errors} | {achieved:.2f} | "
            f"≥ {target:.2f}, p99 ≤ {p99_limit * 1000:.0f} ms | {f'**SHORT** ({why})' if why else 'PASS'} |"
        )
        if why:
            shorts.append(f"SHORT  {name}: {why}")
    return "\n".join(lines), shorts

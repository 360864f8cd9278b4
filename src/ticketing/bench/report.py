"""Tables for the terminal and the markdown report, and the PNG plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ticketing.bench.client import Recorder


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

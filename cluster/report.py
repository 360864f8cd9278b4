"""The markdown report of ``make cluster-test`` (``bench/results/cluster-<timestamp>.md``)."""

from __future__ import annotations

from collections import Counter

from cluster.sale import BLIP_SECONDS, PhaseOptions, PhaseResult


def _counted(counter: Counter[str]) -> str:
    if not counter:
        return "0"
    return f"{sum(counter.values())} ({', '.join(f'{n} x {label}' for label, n in counter.most_common())})"


def _lag(lag: tuple[int, float] | None) -> str:
    return "not streaming" if lag is None else f"{lag[0]:,} B, {lag[1] * 1000:.0f} ms"


def render(preamble: list[str], options: PhaseOptions, results: list[PhaseResult]) -> str:
    lines = ["# Cluster test report", "", *preamble, ""]
    lines += [
        "| phase | fans | bought | walked away | refused | waiting at end (seats free) | "
        f"5xx/network/hung in the blip (fault + {BLIP_SECONDS:g} s) | their span | outside it | invariants | "
        "PostgreSQL replica lag | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        blip, outside = r.failed_answers()
        bought = sum(1 for t in r.journal.trails if t.told_paid)
        broken = sum(abs(v) for v in r.violations.values()) + len(r.told_paid_not_paid) + len(r.paid_told_otherwise)
        lines.append(
            f"| {r.fault.title} | {r.fans} | {bought} | {r.walked_away} | {r.gave_up} | "
            f"{r.waiting_at_end} ({r.free_seats_at_end}) | {_counted(blip)} | {r.blip_span():.1f} s | "
            f"{_counted(outside)} | "
            f"{broken + len(r.twin_mismatches)} broken | {_lag(r.replica_lag)} | {'FAIL' if r.failures() else 'PASS'} |"
        )
    lines += ["", "## Per phase", ""]
    for r in results:
        lines.append(f"### {r.fault.title}")
        lines.append("")
        lines.append(
            f"- {len(r.journal.answers):,} answers in {r.seconds:.0f} s; fault from {r.fault_start:.1f} s to "
            f"{r.fault_end:.1f} s; answers by status: "
            + ", ".join(f"{n} x {status} {code}" for (status, code), n in r.journal.codes().most_common(8))
        )
        lines += [f"- {note}" for note in r.notes]
        lines.append(f"- fans sent back to the queue (token gone or expired): {r.journal.rejoins}")
        first_hold = r.journal.first_success_after("hold", 201, r.fault_end)
        if r.fault.key != "sale" and first_hold is not None:
            lines.append(f"- first hold after the fault ended: {first_hold:.2f} s")
        lines += [f"- **{failure}**" for failure in r.failures()]
        lines.append("")
    return "\n".join(lines)

"""The verdict per scenario and the markdown report.

Correctness targets FAIL (and fail the run): a broken invariant, a 5xx other than 503, two
answers to one Idempotency-Key that differ, a refund answer the database contradicts (or a
second refund of one payment, or a fan past the refund cap), a seat neither sold nor for sale
at the end, a fan with no end state, a process left behind. Timing and availability
targets are measurements, reported PASS or SHORT, never failing the run: recovery time, hung
requests, 503s outside the fault's window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.journal import BOUGHT, GAVE_UP, HUNG, NETWORK, NO_END, REFUNDED, REFUSED, Answer
from chaos.phase import DRAIN_STALL_SECONDS, ScenarioResult


@dataclass(frozen=True)
class Judgement:
    five_xx: Counter[str]
    internal_errors: int  # 5xx other than 503
    hung: int
    hung_excused: int
    stray_503: int  # outside [fault start, fault end + recovery target]
    network_errors: int
    first_hold: float | None
    first_payment: float | None
    recovery_target: float | None
    violations: int
    same_key: int
    orphans: int
    hung_starts: list[float]
    refunds: int  # refund answers the database contradicts, double refunds, fans past the cap
    seats: int  # seats neither sold nor for sale
    no_end: int  # fans with no end state

    @property
    def correct(self) -> bool:
        return not (
            self.violations
            or self.internal_errors
            or self.same_key
            or self.orphans
            or self.refunds
            or self.seats
            or self.no_end
        )


def judge(result: ScenarioResult) -> Judgement:
    answers = result.journal.answers
    scenario = result.scenario
    target = scenario.recovery_target
    window_end = result.fault_end + (target or 0)

    def excused(a: Answer) -> bool:
        # A request stuck on the frozen process cannot be answered before it resumes.
        return scenario.frozen_worker and a.started < result.fault_end

    hung = [a for a in answers if a.status == HUNG]
    return Judgement(
        hung_starts=[a.started for a in hung],
        five_xx=Counter(f"{a.status} {a.code}" for a in answers if a.status >= 500),
        internal_errors=sum(1 for a in answers if a.status >= 500 and a.status != 503),
        hung=sum(1 for a in hung if not excused(a)),
        hung_excused=sum(1 for a in hung if excused(a)),
        stray_503=sum(
            1 for a in answers if a.status == 503 and (a.ended < result.fault_start or a.started > window_end)
        ),
        network_errors=sum(1 for a in answers if a.status == NETWORK),
        first_hold=result.journal.first_success_after("hold", 201, result.fault_end),
        first_payment=_first_payment(result),
        recovery_target=target,
        violations=sum(abs(v) for v in result.new_violations.values()),
        same_key=len(result.twin_mismatches) + len(result.told_otherwise),
        orphans=len(result.orphans),
        refunds=result.refund_failures,
        seats=result.seat_failures,
        no_end=len(result.unfinished),
    )


def _first_payment(result: ScenarioResult) -> float | None:
    found = [result.journal.first_success_after(endpoint, 201, result.fault_end) for endpoint in ("pay", "twin")]
    times = [t for t in found if t is not None]
    return min(times) if times else None


def _span(starts: list[float]) -> str:
    return f"{min(starts):.1f} s and {max(starts):.1f} s of the phase" if starts else "— (none)"


def _count(n: int, fail_word: str) -> str:
    return "0 PASS" if n == 0 else f"{n:,} **{fail_word}**"


def _recovery(seconds: float | None, target: float | None, window: float) -> str:
    if target is None:
        return "—"
    if seconds is None:
        return f"none in {window:.0f} s **SHORT**"
    return f"{seconds:.1f} s {'PASS' if seconds <= target else '**SHORT**'}"


def _five_xx(counter: Counter[str]) -> str:
    return ", ".join(f"{code} x{n:,}" for code, n in counter.most_common()) or "—"


TABLE_HEAD = (
    "| scenario | answers | 5xx by code | 500s (0) | invariants (0) | hung (0) | first hold after fault (≤ target) "
    "| first payment after fault | same-key answers differ (0) | refunds wrong (0) | seats neither sold nor for "
    "sale (0) | fans with no end (0) | left behind (0) |\n"
    "|---|---:|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(result: ScenarioResult, j: Judgement) -> str:
    window = result.seconds - result.fault_end
    target = f" (≤ {j.recovery_target:g} s)" if j.recovery_target is not None else ""
    hung = _count(j.hung, "SHORT") + (f" ({j.hung_excused} on the frozen worker)" if j.hung_excused else "")
    same_key = _count(j.same_key, "FAIL") + (f" of {result.twin_groups} twin groups" if result.twin_groups else "")
    return (
        f"| {result.scenario.key}: {result.scenario.title}{target} | {len(result.journal.answers):,} | "
        f"{_five_xx(j.five_xx)} | {_count(j.internal_errors, 'FAIL')} | {_count(j.violations, 'FAIL')} | {hung} | "
        f"{_recovery(j.first_hold, j.recovery_target, window)} | "
        f"{_recovery(j.first_payment, j.recovery_target, window)} | {same_key} | {_count(j.refunds, 'FAIL')} | "
        f"{_count(j.seats, 'FAIL')} | {_count(j.no_end, 'FAIL')} | {_count(j.orphans, 'FAIL')} |"
    )


def ends_table(results: Sequence[ScenarioResult]) -> list[str]:
    """Fans by how their sale ended, one row per scenario: every fan is in exactly one column."""
    columns = sorted({label for r in results for label in r.ends}, key=_end_order)
    lines = [
        "| scenario | fans | seats | " + " | ".join(columns) + " |",
        "|---|---:|---:|" + "---:|" * len(columns),
    ]
    for r in results:
        cells = [f"{r.ends.get(c, 0):,}" + (" **FAIL**" if c == NO_END and r.ends.get(c) else "") for c in columns]
        lines.append(f"| {r.scenario.key} | {sum(r.ends.values()):,} | {r.seat_count:,} | " + " | ".join(cells) + " |")
    return lines


def _end_order(label: str) -> tuple[int, str]:
    kinds = [BOUGHT, REFUNDED, GAVE_UP, REFUSED, NO_END]
    kind = label.split(":", maxsplit=1)[0]
    return (kinds.index(kind) if kind in kinds else len(kinds), label)


def details(result: ScenarioResult, j: Judgement) -> list[str]:
    journal = result.journal
    by_endpoint: dict[str, Counter[str]] = {}
    for a in journal.answers:
        label = "hung" if a.status == HUNG else "network " + a.code if a.status == NETWORK else f"{a.status} {a.code}"
        by_endpoint.setdefault(a.endpoint, Counter())[label] += 1
    lines = [
        f"### {result.scenario.key}: {result.scenario.title}",
        "",
        *[f"- {note}" for note in result.notes],
        f"- fault from {result.fault_start:.1f} s to {result.fault_end:.1f} s of a {result.seconds:.1f} s phase; "
        f"{journal.bought} fans bought a seat, {len(journal.abandoned)} walked away from a hold, "
        f"{journal.rejoins} re-joined the queue",
        f"- 503 outside the fault's window (before it, or after its end + target): {j.stray_503}; "
        f"network errors: {j.network_errors}; deadlocks: {result.deadlocks}; "
        f"service log lines: {result.log_lines:,}",
        f"- hung requests started between {_span(j.hung_starts)}; the harness's event loop lagged at most "
        f"{result.loop_lag * 1000:.0f} ms"
        + (" (**over 1 s: timings of this phase may be the harness's own**)" if result.loop_lag > 1 else ""),
        _drain_line(result),
        _cpu_line(result, len(journal.answers)),
        f"- holds in the database no fan was told about (client timeouts, lost answers): {result.ghost_holds}",
        f"- lapsed holds read back: {result.expired_checked}, of which still HELD (docs/api.md: EXPIRED): "
        f"{result.expired_read_held}",
    ]
    seats = result.seats
    lines.append(
        f"- seats at the end: {seats.get('sold', 0):,} sold, {seats.get('free', 0):,} for sale, "
        f"{seats.get('held', 0):,} held, {seats.get('held_past_deadline', 0):,} held past their deadline"
        + (
            f" (checked once every hold had time to lapse: {result.held_at_end} still held)"
            if result.scenario.seats_per_fan
            else ""
        )
    )
    told_refunded = sum(1 for t in journal.refunds if t.told_refunded)
    seconds = [t.again for t in journal.refunds if t.again is not None]
    lines.append(
        f"- refunds: {len(journal.refunds)} asked, {told_refunded} refunded, second refunds refused "
        f"{sum(1 for a in seconds if a.code == 'PAYMENT_ALREADY_REFUNDED')} of {len(seconds)}, refused at the cap "
        f"{sum(1 for t in journal.refunds if t.answers and t.answers[-1].code == 'REFUND_LIMIT_REACHED')}; "
        f"fans past the cap in the database: {result.refunds_over_cap}; proof-of-work challenges solved: "
        f"{journal.challenges_solved}"
    )
    lines += [f"- **invariant broken**: {name}: {value:+}" for name, value in result.new_violations.items()]
    lines += [f"- **refund**: {m}" for m in result.refund_disagreements[:10]]
    if result.unfinished:
        last = Counter(result.unfinished).most_common()
        lines.append(
            f"- **no end state**: {len(result.unfinished)} fans, by the last answer each got: "
            + ", ".join(f"{answer} x{n:,}" for answer, n in last)
        )
    lines += [f"- **twins answered differently**: {m}" for m in result.twin_mismatches[:10]]
    lines += [f"- **paid but told otherwise**: {m}" for m in result.told_otherwise[:10]]
    lines += [f"- **left behind**: {o}" for o in result.orphans]
    lines += [f"- **harness**: {e}" for e in result.harness_errors]
    lines += [f"- **a valid request refused as invalid**: {m}" for m in journal.invalid[:10]]
    lines += ["", "| endpoint | answers |", "|---|---|"]
    for endpoint, counts in sorted(by_endpoint.items()):
        lines.append(f"| {endpoint} | {', '.join(f'{k} x{n:,}' for k, n in counts.most_common())} |")
    return [*lines, ""]


def _drain_line(result: ScenarioResult) -> str:
    if result.stalled:
        return (
            f"- after the load's end: **the sale stood still** for {DRAIN_STALL_SECONDS:g} s (no fan reached an end, "
            f"held or paid) {result.drain:.0f} s after it; the fans still on their way were stopped"
        )
    return f"- after the load's end: the fans on their way needed {result.drain:.1f} s more to reach their ends"


def _cpu_line(result: ScenarioResult, answers: int) -> str:
    """What the phase cost, against the wall time it took: a run that got a small share of a busy
    machine shows little CPU for many seconds (its timeouts and recoveries are then starved)."""
    if not result.cpu or not result.seconds:
        return "- CPU: not measured"
    parts = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in sorted(result.cpu.items(), key=lambda p: -p[1]))
    service = result.cpu.get("service", 0.0)
    per_answer = f"; the service {service / answers * 1000:.1f} ms per answer" if answers else ""
    total = sum(result.cpu.values())
    return (
        f"- CPU over the phase: {parts}{per_answer}; in all {total:.1f} s in {result.seconds:.0f} s, "
        f"{total / result.seconds:.2f} of the machine's cores (processes alive at the phase's end)"
    )


def render(
    title: str, preamble: Sequence[str], results: Sequence[ScenarioResult], shutdown: Sequence[str]
) -> tuple[str, bool]:
    """The report's markdown and whether every correctness target held."""
    judged = [(r, judge(r)) for r in results]
    correct = all(j.correct for _, j in judged) and not any(r.harness_errors for r in results) and not shutdown
    lines = [f"# {title}", "", *preamble, "", TABLE_HEAD, *(table_row(r, j) for r, j in judged), ""]
    lines += ["How each fan's sale ended (refused: the API's code that ended it):", "", *ends_table(results), ""]
    lines.append(
        "**Shutdown**: every process the harness started is gone."
        if not shutdown
        else "**Shutdown: left behind (FAIL)**: " + "; ".join(shutdown)
    )
    lines += ["", f"**Verdict**: {'PASS' if correct else 'FAIL'} (correctness targets; SHORT is reported only)", ""]
    lines += ["## Scenarios in detail", ""]
    for result, j in judged:
        lines += details(result, j)
    return "\n".join(lines), correct

"""The bench's rows of the second speed round: CPU per request, the opening second's verdict and
the payment baseline's (figures made up here; the bench measures the real ones)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

from bench.client import Recorder, Response
from bench.loadgen import LoadResult
from bench.report import cpu_rows, cpu_table
from bench.server import session_cpu_seconds
from bench.speed import OpeningSecond, PaymentBaseline


def test_session_cpu_counts_the_processes_of_a_session_and_nothing_else() -> None:
    # The child spins 0.5 s of CPU by its own clock, then waits for a line. /proc counts in clock
    # ticks, sampled, so the session's figure is asked to pass 0.4 s, not the exact 0.5 s (a
    # figure a tick short would never pass); the poll sleeps, so it takes no CPU from the child.
    spin = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\ninput()"
    child = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE, start_new_session=True)
    try:
        for _ in range(6000):  # at most a minute of wall clock, however loaded the machine
            if session_cpu_seconds(child.pid) >= 0.4:
                break
            assert child.poll() is None
            time.sleep(0.01)
        spent = session_cpu_seconds(child.pid)
        assert 0.4 <= spent < 5, spent
    finally:
        child.communicate(b"\n")
    assert session_cpu_seconds(child.pid) == 0.0  # exited: nothing left in its session


def load(name: str, requests: int, cpu: float | None) -> LoadResult:
    return LoadResult(name, "wrk", requests, 10.0, 0.001, 0.002, Counter({200: requests}), server_cpu_seconds=cpu)


def test_cpu_table_gives_the_floors_cpu_per_request_over_ours() -> None:
    floor = load("F_http", 100_000, 5.0)  # 50 µs per request
    recorder = Recorder("payment")
    recorder.record(0.0, Response(201, b""))
    recorder.server_cpu_seconds = 0.001  # 1,000 µs
    table = cpu_table(cpu_rows([floor, load("token issue", 10_000, 2.0), load("x", 10, None)], [recorder]), floor)
    assert "| token issue | 10,000 | 2.00 | 200.0 | 0.25 |" in table
    assert "| payment | 1 | 0.00 | 1,000.0 | 0.05 |" in table
    assert "| x | 10 | — | — | — |" in table
    assert "x floor (50.0 µs/req)" in table


def test_opening_second_passes_only_with_every_fan_answered_in_time_and_no_5xx() -> None:
    fast = OpeningSecond(4, True, [0.1, 0.2, 0.3, 0.4], Counter({201: 4}), last_answer=1.4)
    assert fast.shortfalls == []
    assert "| PASS |" in fast.table()
    late = OpeningSecond(4, True, [0.1, 0.2, 0.3, 2.5], Counter({201: 3, 503: 1}), last_answer=3.5)
    assert late.shortfalls == ["last answer at 3.50 s > 3 s", "p99 2.50 s > 2 s", "1 server errors"]
    missing = OpeningSecond(5, False, [0.1], Counter({201: 1}), last_answer=0.5)
    assert missing.shortfalls == ["4 fans without an answer"]


def test_payment_is_judged_as_a_ratio_of_its_statement() -> None:
    def recorder(name: str, latencies: list[float], seconds: float) -> Recorder:
        found = Recorder(name, latencies=latencies, finished=seconds)
        found.codes["OK"] = len(latencies)
        return found

    statement = recorder("statement", [0.01] * 100, 1.0)  # 100/s
    baseline = PaymentBaseline(recorder("payment", [0.05] * 70, 1.0), statement, 20)
    assert round(baseline.ratio, 2) == 0.70
    assert "| 0.70 | ≥ 0.60, p99 ≤ 100 ms | PASS |" in baseline.table()
    slow = PaymentBaseline(recorder("payment", [0.2] * 50, 1.0), statement, 20)
    assert "**SHORT** (0.50 of the statement < 0.60; p99 200.0 ms > 100 ms)" in slow.table()

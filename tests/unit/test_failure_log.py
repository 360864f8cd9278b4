"""The 5xx of an outage are logged once a second per kind, not once per request."""

from __future__ import annotations

import time

import structlog

from ticketing.edge.problems import FailureLog
from ticketing.kernel.errors import ServiceUnavailable


def failure(cause: Exception) -> ServiceUnavailable:
    error = ServiceUnavailable("The queue store is unavailable; nothing was changed")
    error.__cause__ = cause
    return error


def test_an_outage_logs_one_line_a_second_per_kind_with_the_count_it_left_out() -> None:
    failures = FailureLog()
    failures.INTERVAL_SECONDS = 0.05
    with structlog.testing.capture_logs() as logs:
        for _ in range(50):
            failures.failed(failure(ConnectionError("reset")))
        failures.failed(failure(TimeoutError("slow")))  # another kind: its own line
        time.sleep(0.06)
        failures.failed(failure(ConnectionError("reset")))
    assert [(e["cause"], e["similar_not_logged"]) for e in logs] == [
        ("ConnectionError('reset')", 0),
        ("TimeoutError('slow')", 0),
        ("ConnectionError('reset')", 49),
    ]

"""The lock study's burst counts each refused hold where the hold path refused it (from the real
errors' problem details), and the write targets print PASS/SHORT as ratios to the floor."""

from __future__ import annotations

from collections import Counter

import msgspec
import pytest
from bench.burst import refusal_place
from bench.client import Response
from bench.loadgen import LoadResult
from bench.report import write_targets_table
from bench.workloads import WRITE_TARGETS

from ticketing.core.errors import AppError, ServiceUnavailable
from ticketing.reservations.errors import LOCKED, TAKEN_UNDER_LOCK, SeatUnavailable, seats_unavailable


def answer(error: AppError) -> Response:
    """The body core.http renders for the error: code, title, detail and its extra members."""
    body = {"code": error.code, "title": error.title, "detail": error.detail, **error.extra}
    return Response(error.status, msgspec.json.encode(body))


@pytest.mark.parametrize(
    ("error", "place"),
    [
        (seats_unavailable([7]), "first read"),
        (seats_unavailable([7], LOCKED), "Redis lock"),
        (seats_unavailable([7], TAKEN_UNDER_LOCK), "under lock"),
        (SeatUnavailable(), "unique index"),  # what insert_holds raises on the partial unique index
        (ServiceUnavailable("retry"), "503"),
    ],
)
def test_each_refusal_is_counted_where_the_hold_path_made_it(error: AppError, place: str) -> None:
    assert refusal_place(answer(error)) == place


def floor(rps: float) -> LoadResult:
    return LoadResult("F_http", "wrk", int(rps * 10), 10.0, 0.001, 0.002, Counter({200: int(rps * 10)}))


def test_write_targets_pass_only_with_the_ratio_the_p99_and_no_server_error() -> None:
    table, shorts = write_targets_table(
        [
            ("hold race", 1_600, 0.040, 0),  # 0.16 x F_http, p99 40 ms: PASS
            ("charge (distinct wallets)", 1_100, 0.020, 0),  # 0.11 < 0.12
            ("charge (one hot wallet)", 2_500, 0.020, 3),  # ratio met, but 5xx
            ("payment", 900, 0.120, 0),  # ratio met, p99 above its own 100 ms limit
        ],
        floor(10_000),
        WRITE_TARGETS,
    )
    assert "| hold race | 1,600 | 40.0 | 0 | 0.16 | ≥ 0.15, p99 ≤ 50 ms | PASS |" in table
    assert [line.split(":")[0] for line in shorts] == [
        "SHORT  charge (distinct wallets)",
        "SHORT  charge (one hot wallet)",
        "SHORT  payment",
    ]
    assert "0.11 x F_http < 0.12" in shorts[0]
    assert "3 server errors" in shorts[1]
    assert "p99 120.0 ms > 100 ms" in shorts[2]

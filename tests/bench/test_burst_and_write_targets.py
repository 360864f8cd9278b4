"""The lock study's burst counts each refused hold where the hold path refused it (from the real
errors' problem details) and checks several-seat holds were all or nothing, and the write targets
print PASS/SHORT as ratios to the floor."""

from __future__ import annotations

import random
from collections import Counter

import asyncpg
import msgspec
import pytest
from bench.burst import ONE_SEAT, SEVERAL_SEATS, Attempt, not_all_or_nothing, refusal_place, unavailable_cause
from bench.client import Response
from bench.loadgen import LoadResult
from bench.report import write_targets_table
from bench.workloads import WRITE_TARGETS

from ticketing.kernel.deadline import RequestTimedOut
from ticketing.kernel.errors import AppError, ServiceUnavailable
from ticketing.kernel.locking import raise_translated
from ticketing.reservations.errors import (
    HELD_TWICE,
    LOCKED,
    SOLD_OUT,
    TAKEN_UNDER_LOCK,
    SeatUnavailable,
    seats_unavailable,
)


def answer(error: AppError) -> Response:
    """The body edge.problems renders for the error: code, title, detail and its extra members."""
    body = {"code": error.code, "title": error.title, "detail": error.detail, **error.extra}
    return Response(error.status, msgspec.json.encode(body))


@pytest.mark.parametrize(
    ("error", "place"),
    [
        (seats_unavailable([7]), "first read"),
        (seats_unavailable([7], LOCKED), "Redis lock"),
        (seats_unavailable([7], TAKEN_UNDER_LOCK), "under lock"),
        (SeatUnavailable(reason=HELD_TWICE), "unique index"),  # insert_holds' on the partial unique index
        (SeatUnavailable("fewer than 2 seats of class 'A' are left", reason=SOLD_OUT), "other"),
        (ServiceUnavailable("retry"), "503"),
    ],
)
def test_each_refusal_is_counted_where_the_hold_path_made_it(error: AppError, place: str) -> None:
    assert refusal_place(answer(error)) == place


def translated(error: BaseException) -> AppError:
    """The 503 the hold path answers for a driver error (``raise_translated``)."""
    with pytest.raises(AppError) as caught:
        raise_translated(error)
    return caught.value


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        # what retry_on_conflict lets through after its last attempt
        (translated(asyncpg.exceptions.DeadlockDetectedError("deadlock")), "retries exhausted"),
        (translated(asyncpg.exceptions.LockNotAvailableError("lock")), "lock timeout"),
        (RequestTimedOut(), "deadline"),
        (translated(TimeoutError()), "no connection"),  # the pool's wait
        (ServiceUnavailable("The queue store is unavailable; nothing was changed"), "other"),
    ],
)
def test_each_503_is_counted_by_its_cause(error: AppError, cause: str) -> None:
    assert unavailable_cause(answer(error)) == cause


def test_a_hold_is_all_or_nothing_only_when_the_database_agrees_with_its_answer() -> None:
    asked = frozenset({1, 2, 3})
    fine = [Attempt(10, asked, won=True, answered=asked), Attempt(11, frozenset({2, 3}), won=False)]
    live = {(10, 1), (10, 2), (10, 3)}
    assert not_all_or_nothing(fine, live) == 0
    assert not_all_or_nothing(fine, live - {(10, 3)}) == 1  # the winner got part of its seats
    assert not_all_or_nothing(fine, live | {(11, 2)}) == 1  # a refused hold kept a seat
    named_two = [Attempt(10, asked, won=True, answered=frozenset({1, 2}))]
    assert not_all_or_nothing(named_two, live) == 1  # the 201 named part of the seats


def test_every_fan_of_a_several_seat_burst_asks_for_two_or_three_of_its_seats_in_its_own_order() -> None:
    group = [101, 102, 103, 104]
    holds = SEVERAL_SEATS.holds(group, 64, random.Random(64))
    assert holds == SEVERAL_SEATS.holds(group, 64, random.Random(64))  # seeded: the same for every block
    assert {len(hold) for hold in holds} == {2, 3}
    assert all(len(set(hold)) == len(hold) and set(hold) <= set(group) for hold in holds)
    assert any(hold != sorted(hold) for hold in holds)  # not only ascending lists
    assert SEVERAL_SEATS.body(holds[0]) == {"seat_ids": holds[0]}
    assert ONE_SEAT.body([101]) == {"seat_id": 101}


def floor(rps: float) -> LoadResult:
    return LoadResult("F_http", "wrk", int(rps * 10), 10.0, 0.001, 0.002, Counter({200: int(rps * 10)}))


def test_write_targets_pass_only_with_the_ratio_the_p99_and_no_server_error() -> None:
    table, shorts = write_targets_table(
        [
            ("hold race", 2_100, 0.040, 0),  # 0.21 x F_http, p99 40 ms: PASS
            ("charge (distinct wallets)", 1_100, 0.020, 0),  # 0.11 < 0.12
            ("charge (one hot wallet)", 2_500, 0.020, 3),  # ratio met, but 5xx
            ("payment", 900, 0.120, 0),  # ratio met, p99 above its own 100 ms limit
        ],
        floor(10_000),
        WRITE_TARGETS,
    )
    assert "| hold race | 2,100 | 40.0 | 0 | 0.21 | ≥ 0.20, p99 ≤ 50 ms | PASS |" in table
    assert [line.split(":")[0] for line in shorts] == [
        "SHORT  charge (distinct wallets)",
        "SHORT  charge (one hot wallet)",
        "SHORT  payment",
    ]
    assert "0.11 x F_http < 0.12" in shorts[0]
    assert "3 server errors" in shorts[1]
    assert "p99 120.0 ms > 100 ms" in shorts[2]

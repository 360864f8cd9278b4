"""The fault-injection harness's pure rules (``chaos/``): what counts as a definitive answer,
when answers to one Idempotency-Key disagree, and how a scenario is judged. A failure the
harness reports must be the service's, never an artefact of how it reads answers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from chaos import cpu
from chaos.fans import finish_fans
from chaos.journal import (
    BOUGHT,
    GAVE_UP,
    HUNG,
    NETWORK,
    NO_END,
    REFUNDED,
    REFUSED,
    WALKED_AWAY,
    Answer,
    EndState,
    Journal,
    KeyAnswer,
    PaymentTrail,
    RefundTrail,
    TwinGroup,
    end_state,
    end_table,
    is_definitive,
    refund_disagreements,
    told_otherwise,
    twins_disagree,
)
from chaos.phase import ScenarioResult, drain
from chaos.proxy import ProxyProcess
from chaos.report import judge, render
from chaos.scenarios import ALL, Scenario, no_fault

PAID = KeyAnswer(201, "OK", {"id": 7, "reservation_id": 3, "amount": 50000, "paid_at": "2026-12-01T00:00:00Z"})


def test_transient_answers_are_not_answers_to_compare() -> None:
    assert not is_definitive(NETWORK, "ConnectError")
    assert not is_definitive(HUNG, "HUNG")
    assert not is_definitive(503, "SERVICE_UNAVAILABLE")
    assert not is_definitive(409, "IDEMPOTENCY_KEY_IN_USE")
    assert is_definitive(409, "RESERVATION_NOT_HELD")
    assert is_definitive(401, "TOKEN_INVALID")
    assert is_definitive(201, "OK")


def test_twins_with_the_same_body_in_another_key_order_agree() -> None:
    same = KeyAnswer(201, "OK", {"paid_at": "2026-12-01T00:00:00Z", "amount": 50000, "reservation_id": 3, "id": 7})
    assert not twins_disagree(TwinGroup(1, "k", [PAID, same, PAID]), tokens_may_be_lost=False)


def test_a_twin_refused_with_401_after_the_first_paid_disagrees() -> None:
    group = TwinGroup(1, "k", [PAID, KeyAnswer(401, "TOKEN_INVALID")])
    assert twins_disagree(group, tokens_may_be_lost=False)
    # Where Redis came back empty the token really is gone: that pair is excused there only.
    assert not twins_disagree(group, tokens_may_be_lost=True)


def test_another_body_or_error_disagrees() -> None:
    other = KeyAnswer(201, "OK", {**PAID.body, "id": 8})  # type: ignore[dict-item]
    assert twins_disagree(TwinGroup(1, "k", [PAID, other]), tokens_may_be_lost=True)
    assert twins_disagree(TwinGroup(1, "k", [PAID, KeyAnswer(409, "RESERVATION_NOT_HELD")]), tokens_may_be_lost=True)


def test_expired_and_not_held_are_one_answer_across_a_sweep() -> None:
    group = TwinGroup(1, "k", [KeyAnswer(409, "RESERVATION_EXPIRED"), KeyAnswer(409, "RESERVATION_NOT_HELD")])
    assert not twins_disagree(group, tokens_may_be_lost=False)


def test_paid_but_told_otherwise() -> None:
    trail = PaymentTrail(1, 3, "k", [KeyAnswer(409, "RESERVATION_NOT_HELD")])
    assert told_otherwise(trail, confirmed=True, tokens_may_be_lost=False)
    assert not told_otherwise(trail, confirmed=False, tokens_may_be_lost=False)
    trail.answers.append(PAID)
    assert not told_otherwise(trail, confirmed=True, tokens_may_be_lost=False)
    lost = PaymentTrail(1, 3, "k", [KeyAnswer(401, "TOKEN_INVALID")])
    assert not told_otherwise(lost, confirmed=True, tokens_may_be_lost=True)
    assert not told_otherwise(PaymentTrail(1, 3, "k"), confirmed=True, tokens_may_be_lost=False)


def _result(scenario: Scenario, answers: list[Answer]) -> ScenarioResult:
    return ScenarioResult(scenario, Journal(answers=answers), fault_start=5.0, fault_end=8.0, seconds=20.0)


def test_judge_separates_503_during_the_fault_from_500_and_stray_503() -> None:
    scenario = Scenario("redis-lost", "t", no_fault)
    answers = [
        Answer("hold", 6.0, 6.1, 503, "SERVICE_UNAVAILABLE"),  # during the fault: normal
        Answer("hold", 15.0, 15.1, 503, "SERVICE_UNAVAILABLE"),  # 7 s after its end: stray
        Answer("join", 6.0, 6.2, 500, "INTERNAL_ERROR"),
        Answer("hold", 9.0, 9.5, 201, "OK"),
        Answer("pay", 10.0, 11.0, 201, "OK"),
        Answer("poll", 1.0, 11.0, HUNG, "HUNG"),
        Answer("hold", 2.0, 2.1, 409, "SEAT_UNAVAILABLE"),
    ]
    j = judge(_result(scenario, answers))
    assert j.internal_errors == 1
    assert j.stray_503 == 1
    assert j.hung == 1
    assert j.first_hold == 1.5
    assert j.first_payment == 3.0
    assert not j.correct


def test_hangs_on_a_frozen_worker_are_excused_until_it_resumes() -> None:
    scenario = Scenario("sigstop", "t", no_fault, frozen_worker=True)
    answers = [Answer("poll", 6.0, 16.0, HUNG, "HUNG"), Answer("poll", 9.0, 19.0, HUNG, "HUNG")]
    j = judge(_result(scenario, answers))
    assert (j.hung, j.hung_excused) == (1, 1)
    assert j.correct


def test_render_marks_correctness_failures_and_short_recovery() -> None:
    slow = _result(Scenario("pg-crash", "t", no_fault), [Answer("hold", 20.0, 19.0, 201, "OK")])
    text, correct = render("r", [], [slow], [])
    assert correct
    assert "11.0 s **SHORT**" in text
    text, correct = render("r", [], [slow], ["pid 1 left"])
    assert not correct


def test_a_fans_end_is_what_it_holds_first_then_what_it_gave_back_then_why_it_stopped() -> None:
    assert end_state(REFUSED, "REFUND_LIMIT_REACHED", kept=1, refunded=2) == EndState(BOUGHT, "REFUND_LIMIT_REACHED")
    assert end_state(REFUSED, "SOLD_OUT", kept=1, refunded=0) == EndState(BOUGHT)  # bought before it was refused
    assert end_state(REFUSED, "SOLD_OUT", kept=0, refunded=1) == EndState(REFUNDED)
    assert end_state(GAVE_UP, WALKED_AWAY, kept=0, refunded=0).label() == "gave up: walked away from a hold"
    assert end_state(REFUSED, "SOLD_OUT", kept=0, refunded=0).label() == "refused: SOLD_OUT"


def test_a_fan_without_an_end_is_counted_as_such() -> None:
    table = end_table({1: EndState(BOUGHT), 2: EndState(REFUSED, "SOLD_OUT")}, [1, 2, 3])
    assert table == {"bought": 1, "refused: SOLD_OUT": 1, NO_END: 1}


REFUND_200 = KeyAnswer(200, "OK", {"id": 7, "status": "REFUNDED"})
ALREADY = KeyAnswer(409, "PAYMENT_ALREADY_REFUNDED")


def test_refund_answers_are_checked_against_the_database() -> None:
    fine = RefundTrail(1, 10, "k1", [REFUND_200], again=ALREADY)
    capped = RefundTrail(2, 20, "k2", [KeyAnswer(409, "REFUND_LIMIT_REACHED")])
    told_but_not = RefundTrail(3, 30, "k3", [REFUND_200], again=ALREADY)
    not_told = RefundTrail(4, 40, "k4", [KeyAnswer(409, "REFUND_WINDOW_CLOSED")])
    twice = RefundTrail(5, 50, "k5", [REFUND_200], again=REFUND_200)
    unanswered = RefundTrail(6, 60, "k6")  # the phase ended while it retried: nothing to hold it to
    found = refund_disagreements([fine, capped, told_but_not, not_told, twice, unanswered], {10, 40, 50, 60})
    assert found == [
        "fan 3 payment 30: told refunded, not refunded",
        "fan 4 payment 40: refunded, told 409 REFUND_WINDOW_CLOSED",
        "fan 5 payment 50: refunded twice (second key answered 200)",
    ]


def test_fans_without_an_end_refund_failures_and_stuck_seats_fail_the_run() -> None:
    scenario = Scenario("sell-out", "t", no_fault, seats_per_fan=0.5)
    for failing in (
        {"unfinished": ["poll 200 OK"], "ends": {NO_END: 1}},
        {"refunds_over_cap": 1},
        {"refund_disagreements": ["fan 3 payment 30: told refunded, not refunded"]},
        {"held_at_end": 2},
        {"seats": {"held_past_deadline": 1}},
    ):
        result = _result(scenario, [])
        for name, value in failing.items():
            setattr(result, name, value)
        assert not judge(result).correct, failing
        text, correct = render("r", [], [result], [])
        assert not correct
        if "unfinished" in failing:
            assert "**no end state**: 1 fans, by the last answer each got: poll 200 OK x1" in text
            assert "| 1 **FAIL** |" in text
    result = _result(scenario, [])
    result.ends = {"bought": 2, "refused: SOLD_OUT": 1}
    text, correct = render("r", [], [result], [])
    assert correct
    assert "| sell-out | 3 | 0 | 2 | 1 |" in text


def test_every_scenario_has_a_unique_key() -> None:
    assert len({s.key for s in ALL}) == len(ALL)


async def test_proxy_forwards_adds_latency_and_refuses(tmp_path: Path) -> None:
    """Through ``python -m chaos.proxy``, driven as the scenarios drive it."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):  # the proxy resets its upstream side too
            while data := await reader.read(100):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    process = ProxyProcess(tmp_path, {"echo": int(server.sockets[0].getsockname()[1])})
    await process.start()
    proxy = process.proxies["echo"]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 5) == b"ping"
        await proxy.set_latency(0.1)
        started = asyncio.get_running_loop().time()
        writer.write(b"pong")
        assert await asyncio.wait_for(reader.read(4), 5) == b"pong"
        assert asyncio.get_running_loop().time() - started >= 0.2  # both directions
        assert await proxy.refuse() == 1
        assert await _dropped(reader)
        writer.close()
        assert await _refused_at_once(proxy.port)
        await proxy.heal()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"back")
        assert await asyncio.wait_for(reader.read(4), 5) == b"back"
        writer.close()
    finally:
        await process.stop()
        server.close()


async def _refused_at_once(port: int) -> bool:
    """A new connection is reset: while connecting (the reset can beat the handshake's end on a
    busy machine) or on its first read."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionResetError:
        return True
    try:
        return await _dropped(reader)
    finally:
        writer.close()


async def _dropped(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(4), 2) == b""
    except ConnectionResetError:
        return True


async def test_the_drain_waits_while_the_sale_moves_and_stops_when_it_stands_still() -> None:
    journal = Journal()

    async def slow_but_moving() -> None:  # a fan ends every 0.1 s, for longer than one stall window
        for fan in range(15):
            await asyncio.sleep(0.1)
            journal.ends[fan] = EndState(BOUGHT)

    moving = [asyncio.create_task(slow_but_moving())]
    _, stalled = await drain(moving, journal, stall=1.0, limit=60)
    assert not stalled and moving[0].done() and len(journal.ends) == 15

    stuck = [asyncio.create_task(asyncio.sleep(3600))]  # a fan left waiting: nothing happens
    _, stalled = await drain(stuck, journal, stall=0.5, limit=60)
    assert stalled and not stuck[0].done()
    errors: list[str] = []
    await finish_fans(stuck, 0, errors)
    assert stuck[0].cancelled() and errors == []


async def test_finish_fans_stops_the_rest_and_reports_a_fan_that_crashed() -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    tasks = [asyncio.create_task(crash()), asyncio.create_task(asyncio.sleep(3600))]
    errors: list[str] = []
    await finish_fans(tasks, 0.05, errors)
    assert tasks[1].cancelled()
    assert errors == ["fan crashed: RuntimeError('boom')"]


def test_cpu_counts_a_restarted_process_whole_and_an_ended_one_not_at_all() -> None:
    before = {1: ("service", 10.0), 2: ("service", 5.0), 3: ("harness", 1.0)}
    after = {1: ("service", 12.5), 4: ("service", 3.0), 3: ("harness", 2.0)}  # 2 was killed, 4 started
    assert cpu.used(before, after) == {"service": 5.5, "harness": 1.0}

"""The fault-injection harness's pure rules (``chaos/``): what counts as a definitive answer,
when answers to one Idempotency-Key disagree, and how a scenario is judged. A failure the
harness reports must be the service's, never an artefact of how it reads answers."""

from __future__ import annotations

import asyncio
import contextlib

from chaos.journal import (
    HUNG,
    NETWORK,
    Answer,
    Journal,
    KeyAnswer,
    PaymentTrail,
    TwinGroup,
    is_definitive,
    told_otherwise,
    twins_disagree,
)
from chaos.phase import ScenarioResult
from chaos.proxy import FaultyProxy
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


def test_every_scenario_has_a_unique_key() -> None:
    assert len({s.key for s in ALL}) == len(ALL)


async def test_proxy_forwards_adds_latency_and_refuses() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):  # the proxy resets its upstream side too
            while data := await reader.read(100):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = FaultyProxy("echo", int(server.sockets[0].getsockname()[1]))
    await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.read(4), 2) == b"ping"
        proxy.latency = 0.1
        started = asyncio.get_running_loop().time()
        writer.write(b"pong")
        assert await asyncio.wait_for(reader.read(4), 2) == b"pong"
        assert asyncio.get_running_loop().time() - started >= 0.2  # both directions
        proxy.refusing = True
        assert proxy.reset_all() == 1
        assert await _dropped(reader)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await _dropped(reader)  # refused: reset at once
        writer.close()
    finally:
        await proxy.stop()
        server.close()


async def _dropped(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(4), 2) == b""
    except ConnectionResetError:
        return True

"""The bench's load generators and verdicts: wrk driven through its generated Lua script (every
status counted, the list cycled from each thread's offset), the Python client, and PASS/SHORT."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.client import encode_request
from bench.floor_app import PATH, FloorServer
from bench.loadgen import Generator, LoadResult, PythonClient, Wrk
from bench.report import read_path_table, verdict


def result(rps: float, p99: float = 0.01, statuses: dict[int, int] | None = None, sockets: int = 0) -> LoadResult:
    return LoadResult(
        name="token issue",
        generator="wrk",
        requests=int(rps * 10),
        seconds=10.0,
        p50=p99 / 2,
        p99=p99,
        statuses=Counter(statuses or {201: int(rps * 10)}),
        socket_errors=sockets,
    )


def test_pass_needs_the_ratio_the_p99_and_no_error() -> None:
    floor = result(20_000)
    assert verdict(result(5_000), floor, 0.25, 0.05) == (True, "")
    assert not verdict(result(4_900), floor, 0.25, 0.05)[0]
    assert "p99" in verdict(result(6_000, p99=0.051), floor, 0.25, 0.05)[1]
    assert "HTTP 503: 1" in verdict(result(6_000, statuses={201: 59_999, 503: 1}), floor, 0.25, 0.05)[1]
    assert "socket errors: 2" in verdict(result(6_000, sockets=2), floor, 0.25, 0.05)[1]
    assert result(6_000, statuses={200: 10, 201: 10}).errors == 0  # a fan's live token (200) is an answer too
    table = read_path_table([result(4_000)], floor, {"token issue": 0.25}, 0.05)
    assert "| token issue | 4,000 |" in table
    assert "**SHORT** (0.20 x F_http < 0.25)" in table


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FloorServer]:
    server = FloorServer(tmp_path_factory.mktemp("floor"), workers=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def generators(tmp_path: Path) -> list[Generator]:
    found: list[Generator] = [PythonClient()]
    binary = shutil.which("wrk")
    if binary is not None:
        found.append(Wrk(binary, tmp_path))
    return found


def test_generators_count_every_status_of_a_cycled_list(floor: FloorServer, tmp_path: Path) -> None:
    host = f"127.0.0.1:{floor.port}"
    requests = [encode_request("GET", PATH, host, {"X-Queue-Token": f"t{i}"}) for i in range(99)]
    requests.append(encode_request("GET", "/missing", host))
    for generator in generators(tmp_path):
        measured = asyncio.run(generator.run("floor", floor.port, requests, 1.0, 4))
        assert measured.requests > 100, measured
        assert set(measured.statuses) == {200, 404}, measured  # the list was cycled through
        assert sum(measured.statuses.values()) == measured.requests
        assert measured.socket_errors == 0
        assert measured.errors == measured.statuses[404]
        assert measured.server_errors == 0
        assert measured.cpu_seconds is not None and measured.cpu_seconds > 0
        assert 0 < measured.p50 <= measured.p99


def test_the_floor_answers_a_constant_small_json_object(floor: FloorServer) -> None:
    response = httpx.get(f"http://127.0.0.1:{floor.port}{PATH}")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}

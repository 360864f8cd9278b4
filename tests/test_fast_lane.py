"""The fast lane (``edge/lane.py``) answers what Litestar answers: every request below is sent to
an application with the lane and to one without it (``TICKETING_FAST_LANE=false``), on the same
database and Redis, and the two answers must match (status, body, headers but the request id);
the lane must have answered the plain requests itself and left the others to Litestar."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar import Controller, Litestar, get
from litestar.exceptions import ImproperlyConfiguredException
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from tests.factories import admitted_token, create_concert, create_schedule, create_user
from tests.venues.test_dates_and_seat_map import venue_date
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.edge.lane import FAST_LANE, FastLane
from ticketing.edge.responses import JsonBytes
from ticketing.main import create_app
from ticketing.venues.example import hall_plan

Clients = tuple[AsyncTestClient[Litestar], AsyncTestClient[Litestar]]
# Differ between any two answers, whichever way they took.
_PER_ANSWER = {"x-request-id", "date"}


@pytest.fixture
async def both(settings: Settings, clean: None) -> AsyncIterator[tuple[Clients, list[str]]]:
    """A client of the application with the lane, one without, and the paths that went the long
    way in the first."""
    laned = create_app(settings)
    lane = laned.asgi_handler.app  # type: ignore[attr-defined]
    assert isinstance(lane, FastLane)
    long_way_paths: list[str] = []
    long_way = lane.long_way

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        long_way_paths.append(scope["path"])
        await long_way(scope, receive, send)

    lane.long_way = counted
    plain = create_app(settings.model_copy(update={"fast_lane": False}))
    assert not isinstance(plain.asgi_handler.app, FastLane)  # type: ignore[attr-defined]
    async with AsyncTestClient(app=laned) as with_lane, AsyncTestClient(app=plain) as without:
        yield (with_lane, without), long_way_paths


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {name: value for name, value in response.headers.items() if name not in _PER_ANSWER}
    return response.status_code, headers, response.content


async def _same(
    clients: Clients, send: Callable[[AsyncTestClient[Litestar]], Awaitable[httpx.Response]]
) -> httpx.Response:
    with_lane, without = clients
    laned, plain = await send(with_lane), await send(without)
    assert _comparable(laned) == _comparable(plain)
    return laned


async def test_the_seat_map_and_a_zone_answer_alike_both_ways(
    both: tuple[Clients, list[str]], services: Services
) -> None:
    clients, long_way = both
    concert = await create_concert(services)
    _, date = await venue_date(services, concert, hall_plan(zones=2, rows=4, seats_per_row=30))
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    seat_map = f"/api/v1/schedules/{date.id}/seat-map"

    summary = await _same(clients, lambda c: c.get(seat_map, headers=headers))
    assert summary.status_code == 200 and summary.headers["etag"]
    zone_id = summary.json()["zones"][1]["id"]
    zone = f"/api/v1/schedules/{date.id}/zones/{zone_id}/seats"
    etag = summary.headers["etag"]
    plain_requests: list[tuple[str, str, dict[str, str]]] = [
        ("GET", zone, headers),
        ("GET", zone, {**headers, "Accept-Encoding": "gzip"}),
        ("GET", zone, {**headers, "Accept-Encoding": "br, gzip"}),
        ("HEAD", seat_map, headers),
        ("GET", seat_map, {**headers, "If-None-Match": etag}),
        ("GET", seat_map + "?anything=1", headers),
        ("GET", seat_map, fan.headers),  # no queue token
        ("GET", seat_map, {**headers, "X-Queue-Token": "forged"}),
        ("GET", seat_map, {"X-Queue-Token": headers["X-Queue-Token"]}),  # no bearer
        ("GET", seat_map, {**headers, "Authorization": "Bearer not-a-jwt"}),
        ("GET", f"/api/v1/schedules/{date.id + 1000}/seat-map", headers),  # no such date
        ("GET", f"/api/v1/schedules/{date.id}/zones/{zone_id + 1000}/seats", headers),  # no such zone
        ("GET", f"/api/v1/schedules/{2**63 - 1}/seat-map", headers),
        ("GET", f"/api/v1/schedules/{date.id}/seats", headers),  # every seat: 240, 30 KB of JSON
        ("GET", f"/api/v1/schedules/{date.id}/seats", {**headers, "Accept-Encoding": "gzip"}),
        ("GET", f"/api/v1/schedules/{date.id}/seats", {**headers, "Accept-Encoding": "br"}),
        ("GET", f"/api/v1/concerts/{concert}/schedules", headers),  # the dates
        ("GET", f"/api/v1/concerts/{concert + 1000}/schedules", headers),
        ("GET", "/api/v1/queue/tokens/me", {"X-Queue-Token": headers["X-Queue-Token"]}),  # the poll
        ("GET", "/api/v1/queue/tokens/me", {"X-Queue-Token": "forged"}),
        ("GET", "/api/v1/queue/tokens/me", {}),
    ]
    long_requests: list[tuple[str, str, dict[str, str]]] = [
        ("GET", f"/api/v1/schedules/0{date.id}/seat-map", headers),  # not canonical
        ("GET", f"/api/v1/schedules/{2**63}/seat-map", headers),  # beyond bigint
        ("GET", f"/api/v1/schedules/{date.id}/seat-map/", headers),  # Litestar's routing decides
        ("GET", seat_map, {**headers, "X-Queue-Token": "x" * 300}),  # longer than a token may be
        ("GET", seat_map, {**headers, "Host": "bad host"}),
    ]
    for method, url, sent in plain_requests + long_requests:
        answer = await _same(clients, lambda c, m=method, u=url, h=sent: c.request(m, u, headers=h))  # type: ignore[misc]
        assert answer.status_code < 500, (method, url, answer.text)
    assert long_way == [url for _, url, _ in long_requests]

    # A body on a GET goes the long way.
    long_way.clear()
    await _same(clients, lambda c: c.request("GET", seat_map, headers=headers, content=b"{}"))
    assert long_way == [seat_map]


async def test_a_header_sent_twice_goes_the_long_way(settings: Settings) -> None:
    """Litestar chooses among repeated headers (the test client cannot send them: raw ASGI)."""
    app = create_app(settings)
    declined: list[str] = []

    async def long_way(scope: Any, receive: Any, send: Any) -> None:
        declined.append(scope["path"])

    lane = FastLane(app, long_way)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/schedules/1/seat-map",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", b"Bearer a.b.c"),
            (b"x-queue-token", b"one"),
            (b"x-queue-token", b"two"),
        ],
    }
    await lane(scope, None, None)  # type: ignore[arg-type]
    assert declined == ["/api/v1/schedules/1/seat-map"]
    assert "route_handler" not in scope  # nothing was set up for the lane


async def test_compressed_zone_from_the_lane_is_the_zone(both: tuple[Clients, list[str]], services: Services) -> None:
    (with_lane, _), long_way = both
    concert = await create_concert(services)
    _, date = await venue_date(services, concert, hall_plan(zones=1, rows=10, seats_per_row=40))
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    zone_id = (await with_lane.get(f"/api/v1/schedules/{date.id}/seat-map", headers=headers)).json()["zones"][0]["id"]
    url = f"/api/v1/schedules/{date.id}/zones/{zone_id}/seats"
    raw = await with_lane.get(url, headers={**headers, "Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert len(raw.json()["seats"]) == 400  # httpx decodes it: the body is the zone
    assert long_way == []


async def test_the_queue_join_answers_alike_both_ways(both: tuple[Clients, list[str]], services: Services) -> None:
    (with_lane, without), long_way = both
    concert = await create_concert(services)
    url = f"/api/v1/concerts/{concert}/queue/tokens"
    first, second = await create_user(services), await create_user(services)
    joined = {
        "with": await with_lane.post(url, headers=first.headers),
        "without": await without.post(url, headers=second.headers),
    }
    assert {way: r.status_code for way, r in joined.items()} == {"with": 201, "without": 201}
    assert joined["with"].json().keys() == joined["without"].json().keys()
    assert joined["with"].headers["cache-control"] == joined["without"].headers["cache-control"] == "no-store"
    again = {
        "with": await with_lane.post(url, headers=first.headers),
        "without": await without.post(url, headers=second.headers),
    }
    assert {way: r.status_code for way, r in again.items()} == {"with": 200, "without": 200}
    assert again["with"].json()["token"] == joined["with"].json()["token"]

    for send in (
        lambda c: c.post(f"/api/v1/concerts/{concert + 1000}/queue/tokens", headers=first.headers),  # 404
        lambda c: c.post(url),  # 401
        lambda c: c.post(url, headers={"Authorization": "Bearer x.y.z"}),  # 401
    ):
        await _same((with_lane, without), send)
    altcha = {**first.headers, "X-Altcha": "not a solution"}  # the gate is off here: the live token again
    assert (
        (await with_lane.post(url, headers=altcha)).status_code
        == (await without.post(url, headers=altcha)).status_code
        == 200
    )
    assert long_way == []

    # A body (none is taken) and a malformed id go the long way.
    body = await with_lane.post(url, headers=first.headers, json={"x": 1})  # the live token again, either way
    assert body.status_code == (await without.post(url, headers=first.headers, json={"x": 1})).status_code == 200
    await _same(
        (with_lane, without), lambda c: c.post(f"/api/v1/concerts/{concert}.0/queue/tokens", headers=first.headers)
    )
    assert long_way == [url, f"/api/v1/concerts/{concert}.0/queue/tokens"]


async def test_lane_answers_are_counted_under_the_route_template(
    both: tuple[Clients, list[str]], services: Services
) -> None:
    (with_lane, _), _ = both
    template = "/api/v1/concerts/{concert_id}/queue/tokens"
    labels = {"method": "POST", "path": template, "status_code": "201"}
    before = REGISTRY.get_sample_value("ticketing_requests_total", labels) or 0
    concert = await create_concert(services)
    fan = await create_user(services)
    assert (await with_lane.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=fan.headers)).status_code == 201
    assert REGISTRY.get_sample_value("ticketing_requests_total", labels) == before + 1


def test_a_handler_the_lane_cannot_take_is_refused_at_startup(settings: Settings) -> None:
    class Lenient(Controller):
        path = "/lenient"

        @get("/", opt=FAST_LANE)
        async def search(self, query: str) -> JsonBytes:  # a query parameter: the lane does not parse them
            return JsonBytes(query.encode())

    app = create_app(settings)
    app.register(Lenient)
    with pytest.raises(ImproperlyConfiguredException, match="parameter query"):
        FastLane(app, app.asgi_handler)


async def test_a_hold_and_a_lost_race_answer_alike_both_ways(
    both: tuple[Clients, list[str]], services: Services
) -> None:
    clients, long_way = both
    with_lane, without = clients
    concert = await create_concert(services)
    date = await create_schedule(services, concert, seats=4)
    seat, other = date.seats[0].id, date.seats[1].id
    fans = [await create_user(services) for _ in range(4)]
    headers = [{**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)} for fan in fans]
    url = "/api/v1/reservations"

    held = await with_lane.post(url, json={"seat_id": seat}, headers=headers[0])
    assert held.status_code == 201 and held.json()["seat_id"] == seat
    other_held = await without.post(url, json={"seat_id": other}, headers=headers[1])
    assert other_held.status_code == 201
    assert held.json().keys() == other_held.json().keys()
    assert held.headers["cache-control"] == other_held.headers["cache-control"] == "no-store"
    lost = await _same(clients, lambda c: c.post(url, json={"seat_id": seat}, headers=headers[2]))
    assert lost.status_code == 409 and lost.headers["content-type"] == "application/problem+json"
    several = await _same(clients, lambda c: c.post(url, json={"seat_ids": [seat, other]}, headers=headers[3]))
    assert several.status_code == 409

    for body, content_type in (
        (b'{"seat_id": "1"}', "application/json"),  # strict: not an integer
        (b'{"seat_id": 1, "seat_id": 2}', "application/json"),  # a repeated key
        (b'{"seat_id": 1}', "text/plain"),  # 415
        (b"{", "application/json"),
        (b"", "application/json"),
        (b'{"seat_id": 1, "extra": 1}', "application/json"),
    ):
        sent = {**headers[3], "Content-Type": content_type}
        await _same(clients, lambda c, b=body, h=sent: c.post(url, content=b, headers=h))  # type: ignore[misc]
    await _same(clients, lambda c: c.post(url, json={"seat_id": seat}))  # 401 before the body is read
    assert long_way == []

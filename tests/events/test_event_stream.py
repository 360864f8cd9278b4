"""The pages' push channel (Server-Sent Events): a single-use ticket asked for with the polled
endpoints' headers, a stream that pushes seat changes and queue admission, refusals as
problem+json before any stream starts, a per-process bound, and shutdown."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from tests.factories import TestUser, admitted_token, create_concert, create_schedule, create_user
from tests.support import Client, assert_problem
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.events.schemas import EventTicketIn
from ticketing.kernel.errors import ServiceUnavailable
from ticketing.main import create_app

TICKETS = "/api/v1/events/tickets"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Streams end by themselves after 3 s (the test client reads a response whole), one at a time.
    return settings.model_copy(
        update={"event_stream_seconds": 3.0, "event_heartbeat_seconds": 1.0, "event_streams_max": 1}
    )


def events(body: str) -> list[tuple[str, Any]]:
    """(name, data) of each event of a stream's text."""
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], msgspec.json.decode(fields["data"])))
    return found


async def ticket_for(client: Client, fan: TestUser, token: str, **body: int) -> str:
    answer = await client.post(TICKETS, json=body, headers={**fan.headers, "X-Queue-Token": token})
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["url"] == f"/api/v1/events?ticket={issued['ticket']}"
    assert token not in issued["url"] and fan.token not in issued["url"]  # no secret of the fan in a URL
    return str(issued["url"])


def sell_from_another_connection(database_url: str, seat_id: int, after: float) -> threading.Thread:
    """Sell the seat ``after`` seconds from now, on a connection of another thread: the test
    client runs the stream to its end before it returns, so the change cannot come from here."""

    async def sell() -> None:
        await asyncio.sleep(after)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE seats SET status = 'SOLD' WHERE id = $1", seat_id)
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(sell(),))
    thread.start()
    return thread


async def test_a_seat_taken_meanwhile_is_pushed_and_the_ticket_is_used_up(
    client: Client, services: Services, settings: Settings
) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=5)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    url = await ticket_for(client, fan, token, concert_id=concert, schedule_id=schedule.id)
    seller = sell_from_another_connection(settings.database_url or "", schedule.seats[0].id, after=0.8)
    stream = await client.get(url)
    seller.join()
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-store"
    assert stream.text.startswith("retry: 5000\n\n")
    seen = events(stream.text)
    seat_events = [data for name, data in seen if name == "seats"]
    assert len(seat_events) == 2, seen  # the state at the start, then the change
    assert {e["schedule_id"] for e in seat_events} == {schedule.id}
    assert seat_events[0]["etag"] != seat_events[1]["etag"]
    assert seen[-1] == ("bye", {"reconnect": True})  # its life is over: ask a new ticket

    # Used once: the same ticket opens nothing (problem+json, not a stream).
    assert_problem(await client.get(url), 401, "UNAUTHENTICATED")


async def test_an_admitted_fans_queue_stream_says_so_and_ends(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    await create_schedule(services, concert)
    fan = await create_user(services)
    url = await ticket_for(client, fan, await admitted_token(services, fan, concert), concert_id=concert)
    stream = await client.get(url)
    assert stream.status_code == 200
    [(name, info)] = events(stream.text)
    assert name == "queue"
    assert (info["status"], info["concert_id"], info["user"]["id"]) == ("ACTIVE", concert, fan.id)


async def test_tickets_are_refused_as_the_polled_endpoints_refuse(client: Client, services: Services) -> None:
    concert, elsewhere = await create_concert(services), await create_concert(services, "Elsewhere")
    schedule = await create_schedule(services, concert)
    fan, other = await create_user(services), await create_user(services)
    token = await admitted_token(services, fan, concert)
    with_token = {**fan.headers, "X-Queue-Token": token}
    assert_problem(
        await client.post(TICKETS, json={"concert_id": concert}, headers={"X-Queue-Token": token}),
        401,
        "UNAUTHENTICATED",
    )
    assert_problem(await client.post(TICKETS, json={"concert_id": concert}, headers=fan.headers), 401, "TOKEN_INVALID")
    assert_problem(
        await client.post(TICKETS, json={"concert_id": concert}, headers={**other.headers, "X-Queue-Token": token}),
        403,
        "TOKEN_INVALID",
    )
    assert_problem(await client.post(TICKETS, json={"concert_id": elsewhere}, headers=with_token), 403, "TOKEN_INVALID")
    assert_problem(
        await client.post(TICKETS, json={"concert_id": concert, "schedule_id": 999_999}, headers=with_token),
        404,
        "SCHEDULE_NOT_FOUND",
    )
    for body in ({}, {"concert_id": "1"}, {"concert_id": 0}, {"concert_id": concert, "extra": 1}, [concert]):
        assert_problem(await client.post(TICKETS, json=body, headers=with_token), 422, "VALIDATION_ERROR")
    assert (
        await client.post(TICKETS, json={"concert_id": concert, "schedule_id": schedule.id}, headers=with_token)
    ).status_code == 201


@pytest.mark.parametrize("ticket", ["", "short", "a" * 33, "a" * 31 + "/", "a" * 31 + "\n", "%00" * 11 + "a"])
async def test_a_malformed_ticket_is_a_problem_not_a_stream(client: Client, ticket: str) -> None:
    assert_problem(await client.get("/api/v1/events", params={"ticket": ticket}), 422, "VALIDATION_ERROR")


async def test_an_unknown_ticket_is_refused(client: Client) -> None:
    assert_problem(await client.get("/api/v1/events", params={"ticket": "A" * 32}), 401, "UNAUTHENTICATED")


async def test_streams_beyond_the_bound_are_refused_so_the_page_polls(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    watch = EventTicketIn(concert_id=concert, schedule_id=schedule.id)
    first, second = [(await services.events.issue_ticket(fan.principal, token, watch)).ticket for _ in range(2)]
    held = await services.events.open_stream(first)
    assert await anext(held) == b"retry: 5000\n\n"  # the one stream this process allows (settings)
    with pytest.raises(ServiceUnavailable, match="poll instead") as refused:
        await services.events.open_stream(second)
    assert refused.value.headers == {"Retry-After": "5"}
    await held.aclose()  # the client went away: its place is free again
    assert services.events.open_streams == 0
    again = await services.events.open_stream(second)  # the refused ticket was not used up
    assert await anext(again) == b"retry: 5000\n\n"
    await again.aclose()


async def test_beyond_the_bound_the_answer_is_a_problem_with_retry_after(
    settings: Settings, services: Services
) -> None:
    concert = await create_concert(services)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    async with AsyncTestClient(app=create_app(settings.model_copy(update={"event_streams_max": 0}))) as closed:
        url = await ticket_for(closed, fan, token, concert_id=concert)
        refused = await closed.get(url)
    assert_problem(refused, 503, "SERVICE_UNAVAILABLE")
    assert refused.headers["retry-after"] == "5"


async def test_at_shutdown_every_stream_says_bye_and_no_new_one_opens(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    events_ = services.events
    issued = await events_.issue_ticket(
        fan.principal, token, EventTicketIn(concert_id=concert, schedule_id=schedule.id)
    )
    stream = await events_.open_stream(issued.ticket)
    assert await anext(stream) == b"retry: 5000\n\n"
    assert events_.open_streams == 1
    assert (await anext(stream)).startswith(b"event: seats\n")
    events_.close_all()
    assert await anext(stream) == b'event: bye\ndata: {"reconnect":false}\n\n'
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert events_.open_streams == 0
    another = await events_.issue_ticket(fan.principal, token, EventTicketIn(concert_id=concert))
    with pytest.raises(ServiceUnavailable, match="poll instead"):
        await events_.open_stream(another.ticket)

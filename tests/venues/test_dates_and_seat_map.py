"""Dates on a venue priced per class, the seat map and one zone's seats (ETag, 304,
compression, the staleness bound), and plain dates seen the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from tests.factories import admitted_token, create_concert, create_schedule, create_user
from tests.support import Client, assert_problem
from ticketing.container import Services
from ticketing.schedules.repository import ScheduleRepository
from ticketing.schedules.schemas import ScheduleIn, ZoneSeatOut
from ticketing.venues.example import hall_plan
from ticketing.venues.schemas import VenueIn

PRICES = {"VIP": 200_000, "R": 150_000, "S": 120_000, "A": 90_000}


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "starts_at": (now + timedelta(days=10)).isoformat(),
        "reservation_opens_at": (now - timedelta(hours=1)).isoformat(),
        "reservation_closes_at": (now + timedelta(days=9)).isoformat(),
    }


async def venue_date(services: Services, concert: int, plan: dict[str, Any], prices: dict[str, int] = PRICES) -> Any:
    venue = await services.venues.create_venue(VenueIn(name="Arena", plan=plan))
    data = msgspec.convert({**window(), "venue_id": venue.id, "prices": prices}, ScheduleIn, strict=False)
    return venue, await services.schedules.create_schedule(concert, data)


def zone_reads(services: Services) -> list[list[int]]:
    """The zone ids of every ``seats_by_zone`` statement of ``services`` from now on, in order."""
    reads: list[list[int]] = []

    class Counted(ScheduleRepository):
        async def seats_by_zone(
            self, schedule_id: int, zone_ids: Sequence[int]
        ) -> tuple[dict[int, list[ZoneSeatOut]], dict[int, tuple[int, int]]]:
            reads.append(list(zone_ids))
            return await super().seats_by_zone(schedule_id, zone_ids)

    services.uow.repositories[ScheduleRepository] = Counted
    return reads


async def test_a_date_on_a_plan_is_priced_per_class(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    concert = await create_concert(services)
    plan = hall_plan(zones=6, rows=4, seats_per_row=5)  # line 0: VIP front rows, R back; line 1: R and S
    venue = await services.venues.create_venue(VenueIn(name="Arena", plan=plan))
    url = f"/api/v1/admin/concerts/{concert}/schedules"
    created = await client.post(url, json={**window(), "venue_id": venue.id, "prices": PRICES}, headers=admin.headers)
    assert created.status_code == 201, created.text
    date = created.json()
    assert "seats" not in date
    assert date["venue_id"] == venue.id
    assert date["seat_count"] == 120
    assert date["classes"] == [
        {"name": "VIP", "price": 200_000, "seat_count": 50},
        {"name": "R", "price": 150_000, "seat_count": 60},
        {"name": "S", "price": 120_000, "seat_count": 10},
        {"name": "A", "price": 90_000, "seat_count": 0},
    ]
    for body in (
        {**window(), "venue_id": venue.id, "prices": {"VIP": 1, "R": 1, "S": 1}},  # A missing
        {**window(), "venue_id": venue.id, "prices": {**PRICES, "Box": 5}},  # not a category
        {**window(), "venue_id": venue.id, "prices": {**PRICES, "A": 0}},
        {**window(), "venue_id": venue.id, "prices": PRICES, "seat_count": 5},
        {**window(), "venue_id": venue.id, "price": 5},
        {**window(), "venue_id": venue.id},
        {**window()},
    ):
        assert_problem(await client.post(url, json=body, headers=admin.headers), 422, "VALIDATION_ERROR")
    missing = {**window(), "venue_id": 999_999, "prices": PRICES}
    assert_problem(await client.post(url, json=missing, headers=admin.headers), 404, "VENUE_NOT_FOUND")

    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    seats = (await client.get(f"/api/v1/schedules/{date['id']}/seats", headers=headers)).json()
    assert len(seats) == 120
    first = seats[0]
    assert {k: first[k] for k in ("zone", "row", "label", "class", "price", "number", "available")} == {
        "zone": "Floor A",
        "row": "1",
        "label": "1",
        "class": "VIP",
        "price": 200_000,
        "number": 1,
        "available": True,
    }
    assert {(s["class"], s["price"]) for s in seats} == {("VIP", 200_000), ("R", 150_000), ("S", 120_000)}
    assert [s["label"] for s in seats[:6]] == ["1", "2", "3", "4", "5", "1"]  # row 1, then row 2 of the zone
    dates = (await client.get(f"/api/v1/concerts/{concert}/schedules", headers=headers)).json()
    assert [{k: c[k] for k in ("name", "price", "available")} for c in dates[0]["classes"]] == [
        {"name": "VIP", "price": 200_000, "available": 50},
        {"name": "R", "price": 150_000, "available": 60},
        {"name": "S", "price": 120_000, "available": 10},
        {"name": "A", "price": 90_000, "available": 0},
    ]
    assert [c["color"] for c in dates[0]["classes"]] == [c["color"] for c in plan["categories"]]


async def test_seat_map_and_zone_seats(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    venue, date = await venue_date(services, concert, hall_plan(zones=2, rows=4, seats_per_row=30))
    other_venue, _ = await venue_date(services, concert, hall_plan(zones=1, rows=1, seats_per_row=2))
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    headers = {**fan.headers, "X-Queue-Token": token}
    url = f"/api/v1/schedules/{date.id}/seat-map"
    summary = await client.get(url, headers=headers)
    assert summary.status_code == 200
    body = summary.json()
    assert body["schedule_id"] == date.id and body["venue_id"] == venue.id
    assert [(c["name"], c["price"], c["available"]) for c in body["classes"][:2]] == [
        ("VIP", 200_000, 120),
        ("R", 150_000, 120),
    ]
    zone_a, zone_b = body["zones"]
    assert zone_a["id"] == venue.zones[0].id and zone_a["name"] == "Floor A"
    assert (zone_a["available"], zone_a["seat_count"], zone_a["available_by_class"]) == (120, 120, {"VIP": 60, "R": 60})

    zone_url = f"/api/v1/schedules/{date.id}/zones/{zone_b['id']}/seats"
    zone = await client.get(zone_url, headers={**headers, "Accept-Encoding": "gzip"})
    assert zone.status_code == 200
    assert zone.headers["content-encoding"] == "gzip"
    seats = zone.json()
    assert seats["schedule_id"] == date.id and seats["zone_id"] == zone_b["id"]
    assert len(seats["seats"]) == 120
    assert seats["seats"][0] == {
        "id": seats["seats"][0]["id"],
        "row": "1",
        "label": "1",
        "class": "VIP",
        "price": 200_000,
        "available": True,
    }
    etag = zone.headers["etag"]
    assert (await client.get(zone_url, headers={**headers, "If-None-Match": etag})).status_code == 304
    unchanged = await client.get(url, headers={**headers, "If-None-Match": summary.headers["etag"]})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    # A hold in this process is seen at once (its caches are dropped): new ETags, one seat fewer.
    held = await client.post("/api/v1/reservations", json={"seat_id": seats["seats"][0]["id"]}, headers=headers)
    assert held.status_code == 201, held.text
    changed = await client.get(zone_url, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["seats"][0]["available"] is False
    after = (await client.get(url, headers=headers)).json()
    assert after["zones"][1]["available_by_class"] == {"VIP": 59, "R": 60}
    assert after["classes"][0]["available"] == 119

    foreign = other_venue.zones[0].id
    assert_problem(
        await client.get(f"/api/v1/schedules/{date.id}/zones/{foreign}/seats", headers=headers), 404, "ZONE_NOT_FOUND"
    )
    assert_problem(await client.get(url, headers=fan.headers), 401, "TOKEN_INVALID")  # no queue token


async def test_a_zone_is_read_when_first_asked_for_and_again_only_when_it_moved(
    client: Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary reads no zone's seats; each zone's seats are read the first time it is asked
    for (one statement of that zone alone) and kept; after a hold the next request reads again,
    but only the zone whose free seats moved."""
    reads = zone_reads(client.app.state.services)
    monkeypatch.setattr(client.app.state.services.schedules, "cache_seconds", 3600.0)  # no refresh by age in this test
    concert = await create_concert(services)
    venue, date = await venue_date(services, concert, hall_plan(zones=6, rows=2, seats_per_row=5))
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    summary = await client.get(f"/api/v1/schedules/{date.id}/seat-map", headers=headers)
    assert summary.status_code == 200 and len(summary.json()["zones"]) == 6
    assert reads == []  # the summary is the aggregate alone
    answers: dict[int, Any] = {}
    for zone in venue.zones + venue.zones:
        answer = await client.get(f"/api/v1/schedules/{date.id}/zones/{zone.id}/seats", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answers.setdefault(zone.id, answer.json()) == answer.json()
    assert reads == [[zone.id] for zone in venue.zones]  # each zone once, asked twice
    assert [a["zone_id"] for a in answers.values()] == [zone.id for zone in venue.zones]
    assert [len(a["seats"]) for a in answers.values()] == [zone.seat_count for zone in venue.zones]
    seat_ids = [seat["id"] for a in answers.values() for seat in a["seats"]]
    assert len(set(seat_ids)) == len(seat_ids) == 60  # each seat in its own zone's answer only

    reads.clear()
    last = venue.zones[-1].id
    held = await client.post("/api/v1/reservations", json={"seat_id": answers[last]["seats"][0]["id"]}, headers=headers)
    assert held.status_code == 201, held.text
    first = venue.zones[0].id
    assert (await client.get(f"/api/v1/schedules/{date.id}/zones/{first}/seats", headers=headers)).status_code == 200
    again = await client.get(f"/api/v1/schedules/{date.id}/zones/{last}/seats", headers=headers)
    assert reads == [[last]]
    assert again.json()["seats"][0]["available"] is False
    unchanged = await client.get(f"/api/v1/schedules/{date.id}/zones/{first}/seats", headers=headers)
    assert unchanged.json() == answers[first]  # kept from the first read, still true
    assert reads == [[last]]


async def test_small_answers_are_not_compressed(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=50)
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert), "Accept-Encoding": "br"}
    seat_list = await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=headers)
    assert seat_list.status_code == 200
    assert "content-encoding" not in seat_list.headers
    assert len(seat_list.json()) == 50
    dates = await client.get(f"/api/v1/concerts/{concert}/schedules", headers=headers)
    assert "content-encoding" not in dates.headers


async def test_a_plain_date_is_one_zone_and_one_class(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=5, price=7_000)
    assert [(s.number, s.zone, s.row, s.label, s.class_) for s in schedule.seats][:2] == [
        (1, "Hall", "1", "1", "Standard"),
        (2, "Hall", "1", "2", "Standard"),
    ]
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    body = (await client.get(f"/api/v1/schedules/{schedule.id}/seat-map", headers=headers)).json()
    assert body["venue_id"] is None
    assert body["classes"] == [{"name": "Standard", "price": 7_000, "available": 5, "color": "#0072B2"}]
    [zone] = body["zones"]
    assert (zone["name"], zone["available"], zone["available_by_class"]) == ("Hall", 5, {"Standard": 5})
    seats = (await client.get(f"/api/v1/schedules/{schedule.id}/zones/{zone['id']}/seats", headers=headers)).json()
    assert [s["label"] for s in seats["seats"]] == ["1", "2", "3", "4", "5"]
    dates = (await client.get(f"/api/v1/concerts/{concert}/schedules", headers=headers)).json()
    assert dates[0]["classes"] == body["classes"]


async def test_another_process_sale_is_seen_within_the_bound_and_only_its_zone_is_read(
    client: Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seat taken by another process (written straight to the database: this process's caches
    hear nothing) shows within the staleness bound; the refresh reads the one zone that moved.
    From half the bound on, a request is answered from what is kept while one refresh runs in
    the background, and the next request sees it."""
    reads = zone_reads(client.app.state.services)
    monkeypatch.setattr(client.app.state.services.schedules, "cache_seconds", 4.0)
    concert = await create_concert(services)
    venue, date = await venue_date(services, concert, hall_plan(zones=3, rows=2, seats_per_row=5))
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    zone_url = f"/api/v1/schedules/{date.id}/zones/{venue.zones[1].id}/seats"
    before = (await client.get(zone_url, headers=headers)).json()
    sold = before["seats"][2]["id"]
    async with services.uow(autocommit=True) as uow:
        await uow.conn.execute("UPDATE seats SET status = 'SOLD', version = version + 1 WHERE id = $1", sold)
    await asyncio.sleep(2.2)  # past half the bound, within it: the kept answer, a refresh started
    kept = (await client.get(zone_url, headers=headers)).json()
    assert kept == before
    for _ in range(250):  # the background refresh reads the zone that moved, and only it
        if len(reads) == 2:
            break
        await asyncio.sleep(0.02)
    assert reads == [[venue.zones[1].id], [venue.zones[1].id]]
    # The read has started; its answer is kept once it returns. Well within the 4 s bound the
    # zone must show the sale (a refresh's own read never takes seconds on 15 seats).
    for _ in range(50):
        after = (await client.get(zone_url, headers=headers)).json()
        if after != before:
            break
        await asyncio.sleep(0.02)
    assert [s["available"] for s in after["seats"]][:4] == [True, True, False, True]
    summary = (await client.get(f"/api/v1/schedules/{date.id}/seat-map", headers=headers)).json()
    assert [z["available"] for z in summary["zones"]] == [10, 9, 10]
    await asyncio.sleep(4.1)  # nobody read for a whole bound: the next request waits for a read
    assert (await client.get(zone_url, headers=headers)).json() == after
    assert reads == [[venue.zones[1].id], [venue.zones[1].id]]  # nothing moved since: no seats read again


async def test_zones_built_on_request_follow_another_process_sale_and_their_etags_move(
    client: Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zones are read when first asked for, so the summary alone reads none. A sale by another
    process (straight to the database) shows, past the staleness bound, in a zone kept, in a zone
    never asked for before, and in the summary, each under a new ETag; with nothing moved the
    ETags stay and If-None-Match is 304. A kept zone nobody asked for during a whole view is
    dropped when it moves instead of read again, and read when next asked for."""
    reads = zone_reads(client.app.state.services)

    async def sell_elsewhere(seat_id: int) -> None:
        async with services.uow(autocommit=True) as uow:
            await uow.conn.execute("UPDATE seats SET status = 'SOLD', version = version + 1 WHERE id = $1", seat_id)

    bound = 0.6
    monkeypatch.setattr(client.app.state.services.schedules, "cache_seconds", bound)
    concert = await create_concert(services)
    venue, date = await venue_date(services, concert, hall_plan(zones=3, rows=2, seats_per_row=5))
    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert)}
    summary_url = f"/api/v1/schedules/{date.id}/seat-map"
    kept_zone, new_zone = venue.zones[0].id, venue.zones[2].id
    kept_url = f"/api/v1/schedules/{date.id}/zones/{kept_zone}/seats"
    new_url = f"/api/v1/schedules/{date.id}/zones/{new_zone}/seats"

    summary = await client.get(summary_url, headers=headers)
    assert reads == []  # the summary reads the aggregate only
    kept = await client.get(kept_url, headers=headers)
    assert reads == [[kept_zone]]
    async with services.uow(autocommit=True) as uow:
        new_zone_seats = [
            r[0] for r in await uow.conn.fetch("SELECT id FROM seats WHERE zone_id = $1 ORDER BY number", new_zone)
        ]
    await sell_elsewhere(kept.json()["seats"][1]["id"])
    await sell_elsewhere(new_zone_seats[3])

    await asyncio.sleep(bound + 0.1)  # past the bound: the next request waits for a read
    kept_after = await client.get(kept_url, headers=headers)
    assert [s["available"] for s in kept_after.json()["seats"]][:3] == [True, False, True]
    assert kept_after.headers["etag"] != kept.headers["etag"]
    new_after = await client.get(new_url, headers=headers)
    assert [s["available"] for s in new_after.json()["seats"]][:5] == [True, True, True, False, True]
    summary_after = await client.get(summary_url, headers=headers)
    assert summary_after.headers["etag"] != summary.headers["etag"]
    assert [z["available"] for z in summary_after.json()["zones"]] == [9, 10, 9]
    assert reads == [[kept_zone], [kept_zone], [new_zone]]

    await asyncio.sleep(bound + 0.1)  # nothing moved: same ETags, 304s, no zone read again
    for url, answer in ((summary_url, summary_after), (kept_url, kept_after), (new_url, new_after)):
        again = await client.get(url, headers={**headers, "If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and again.headers["etag"] == answer.headers["etag"]
    assert reads == [[kept_zone], [kept_zone], [new_zone]]

    # A whole view in which only the summary is read, then a sale in the kept zone: the refresh
    # drops the zone rather than read it; the next request for it reads it.
    await asyncio.sleep(bound + 0.1)
    assert (await client.get(summary_url, headers=headers)).status_code == 200
    await sell_elsewhere(kept.json()["seats"][2]["id"])
    await asyncio.sleep(bound + 0.1)
    assert [z["available"] for z in (await client.get(summary_url, headers=headers)).json()["zones"]] == [8, 10, 9]
    assert reads == [[kept_zone], [kept_zone], [new_zone]]
    dropped = await client.get(kept_url, headers=headers)
    assert [s["available"] for s in dropped.json()["seats"]][:3] == [True, False, False]
    assert reads == [[kept_zone], [kept_zone], [new_zone], [kept_zone]]


async def test_zones_asked_for_at_once_are_read_in_one_statement(services: Services) -> None:
    """A cold process asked for every zone of a date at the same moment (fans arriving at a
    stadium's map) reads them in a batch or two rather than one statement each, each zone once,
    each answer its own zone's seats."""
    reads = zone_reads(services)
    concert = await create_concert(services)
    venue, date = await venue_date(services, concert, hall_plan(zones=6, rows=2, seats_per_row=5))
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    zone_ids = [zone.id for zone in venue.zones]
    asked = zone_ids * 3
    answers = await asyncio.gather(
        *(services.schedules.zone_seats(fan.id, token, date.id, zone_id) for zone_id in asked)
    )
    # Each zone read once; the first asked goes at once, the others queued behind it go together.
    assert sorted(zone_id for batch in reads for zone_id in batch) == sorted(zone_ids)
    assert len(reads) < len(zone_ids)
    bodies = [msgspec.json.decode(answer.body) for answer in answers]
    assert [body["zone_id"] for body in bodies] == asked
    assert all(len(body["seats"]) == 10 and all(s["available"] for s in body["seats"]) for body in bodies)
    assert len({s["id"] for body in bodies for s in body["seats"]}) == 60

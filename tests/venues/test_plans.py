"""Venues from seating plans over HTTP: a plan is read whole and refused with one clear fault
(nothing stored), or stored and served back as it was uploaded (ETag, Cache-Control, 304,
compression); and the CLI's create-venue."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from tests.factories import create_user
from tests.support import Client, assert_problem
from ticketing.container import Services
from ticketing.venues.example import hall_plan

URL = "/api/v1/admin/venues"


async def stored_rows(services: Services) -> tuple[int, int, int]:
    async with services.uow(autocommit=True) as uow:
        row = await uow.conn.fetchrow(
            "SELECT (SELECT count(*) FROM venues), (SELECT count(*) FROM zones WHERE venue_id IS NOT NULL), "
            "(SELECT count(*) FROM venue_seats)"
        )
    assert row is not None
    return (row[0], row[1], row[2])


def big_plan(seats: int) -> dict[str, Any]:
    """One zone of rows of 1,000 seats (the last one shorter): ``seats`` seats in all."""
    rows = []
    for r in range(-(-seats // 1000)):
        in_row = min(1000, seats - r * 1000)
        rows.append(
            {
                "row_number": str(r + 1),
                "seats": [
                    {"seat_guid": f"{r}-{s}", "seat_number": str(s + 1), "position": {"x": s, "y": 0}, "category": "A"}
                    for s in range(in_row)
                ],
            }
        )
    return {
        "name": "Stadium",
        "categories": [{"name": "A"}],
        "zones": [{"name": "Z", "position": {"x": 0, "y": 0}, "rows": rows}],
    }


async def test_a_bad_plan_is_refused_with_its_first_fault_and_nothing_is_stored(
    client: Client, services: Services
) -> None:
    admin = await create_user(services, role="admin")
    good = hall_plan(zones=2, rows=2, seats_per_row=3)
    duplicate = copy.deepcopy(good)
    duplicate["zones"][1]["rows"][0]["seats"][2]["seat_guid"] = duplicate["zones"][0]["rows"][0]["seats"][0][
        "seat_guid"
    ]
    unknown = copy.deepcopy(good)
    unknown["zones"][0]["rows"][1]["seats"][1]["category"] = "Standing"
    empty = {**copy.deepcopy(good), "zones": []}
    no_seats = copy.deepcopy(good)
    for zone in no_seats["zones"]:
        for row in zone["rows"]:
            row["seats"] = []
    bad_type = copy.deepcopy(good)
    bad_type["zones"][0]["rows"][0]["seats"][0]["position"]["x"] = "12"
    no_guid = copy.deepcopy(good)
    del no_guid["zones"][0]["rows"][0]["seats"][0]["seat_guid"]
    twice = {**copy.deepcopy(good), "categories": [*good["categories"], good["categories"][0]]}
    cases: list[tuple[dict[str, Any], str]] = [
        (duplicate, "plan.zones[1].rows[0].seats[2].seat_guid"),
        (unknown, "plan.zones[0].rows[1].seats[1].category"),
        (empty, "plan.zones"),
        (no_seats, "plan.zones"),
        (bad_type, "plan.zones[0].rows[0].seats[0].position.x"),
        (no_guid, "plan.zones[0].rows[0].seats[0]"),
        (twice, "plan.categories[4].name"),
        (big_plan(100_001), "plan.zones"),
    ]
    for plan, field in cases:
        problem = assert_problem(
            await client.post(URL, json={"name": "Hall", "plan": plan}, headers=admin.headers),
            422,
            "INVALID_SEATING_PLAN",
        )
        assert problem["errors"][0]["field"] == field, problem
    assert "100,001 seats" in problem["detail"]
    assert await stored_rows(services) == (0, 0, 0)
    # The body's own shape is the generic check's.
    assert_problem(await client.post(URL, json={"name": "Hall"}, headers=admin.headers), 422, "VALIDATION_ERROR")
    fan = await create_user(services)
    assert_problem(await client.post(URL, json={"name": "Hall", "plan": good}, headers=fan.headers), 403, "FORBIDDEN")
    assert await stored_rows(services) == (0, 0, 0)


async def test_bodies_up_to_16_mib_on_this_endpoint_only(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    plan = big_plan(100_000)
    body = msgspec.json.encode({"name": "Stadium", "plan": plan})
    assert 1024 * 1024 < len(body) < 16 * 1024 * 1024
    created = await client.post(URL, content=body, headers={**admin.headers, "Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert created.json()["seat_count"] == 100_000
    assert await stored_rows(services) == (1, 1, 100_000)
    padded = msgspec.json.encode({"name": "Stadium", "plan": {**plan, "padding": "x" * (16 * 1024 * 1024)}})
    response = await client.post(URL, content=padded, headers={**admin.headers, "Content-Type": "application/json"})
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    # Elsewhere the 1 MiB limit stands.
    response = await client.post(
        "/api/v1/admin/concerts", content=body, headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


async def test_a_venue_and_its_plan_as_uploaded(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    plan = hall_plan(zones=3, rows=4, seats_per_row=10)
    plan["zones"][0]["rows"][0]["seats"][0]["radius"] = 5  # a field of pretix's this service does not read
    plan["categories"][3].pop("color")
    created = await client.post(URL, json={"name": "Arena", "plan": plan}, headers=admin.headers)
    assert created.status_code == 201, created.text
    venue = created.json()
    assert venue["name"] == "Arena"
    assert venue["seat_count"] == 120
    assert [(z["name"], z["seat_count"]) for z in venue["zones"]] == [("Floor A", 40), ("Floor B", 40), ("Floor C", 40)]
    assert [c["name"] for c in venue["categories"]] == ["VIP", "R", "S", "A"]
    assert all(c["color"] for c in venue["categories"])  # a default colour for the one the plan has none for
    assert (await client.get(f"{URL}/{venue['id']}", headers=admin.headers)).json() == venue
    assert_problem(await client.get(f"{URL}/999999", headers=admin.headers), 404, "VENUE_NOT_FOUND")

    served = await client.get(f"/api/v1/venues/{venue['id']}/plan", headers={"Accept-Encoding": "identity"})
    assert served.status_code == 200
    assert served.json() == plan
    assert served.headers["cache-control"].startswith("public")
    etag = served.headers["etag"]
    again = await client.get(f"/api/v1/venues/{venue['id']}/plan", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert etag.startswith('W/"')  # one tag for the plan as it is, with br or with gzip
    strong = await client.get(f"/api/v1/venues/{venue['id']}/plan", headers={"If-None-Match": etag[2:]})
    assert strong.status_code == 304  # a weak comparison (RFC 9110 13.1.2)
    other = await client.get(f"/api/v1/venues/{venue['id']}/plan", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    assert_problem(await client.get("/api/v1/venues/999999/plan"), 404, "VENUE_NOT_FOUND")


@pytest.mark.parametrize("encoding", ["br", "gzip"])
async def test_a_large_plan_is_compressed(client: Client, services: Services, encoding: str) -> None:
    admin = await create_user(services, role="admin")
    plan = hall_plan(zones=2, rows=10, seats_per_row=20)
    venue = (await client.post(URL, json={"name": "Arena", "plan": plan}, headers=admin.headers)).json()
    served = await client.get(f"/api/v1/venues/{venue['id']}/plan", headers={"Accept-Encoding": encoding})
    assert served.headers["content-encoding"] == encoding
    # httpx decodes what it can; the length on the wire is the compressed one.
    assert int(served.headers["content-length"]) < len(msgspec.json.encode(plan)) / 5
    assert served.json() == plan

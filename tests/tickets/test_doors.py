"""Doors per date (docs/api.md): a check-in with ``schedule_id`` refuses a ticket
of another date (409 TICKET_WRONG_SCHEDULE, the ticket stays VALID); door staff, created by
operators, check in and read a date's door count and nothing else; operators list a date's
tickets and export them as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_schedule, create_user
from tests.support import assert_problem
from tests.tickets.purchases import Purchase, buy, ticket_of
from ticketing.container import Services
from ticketing.tickets.service import CSV_COLUMNS

Client = AsyncTestClient[Litestar]
CHECK_IN = "/api/v1/admin/check-ins"


async def two_dates(services: Services) -> tuple[Purchase, Purchase]:
    """One fan's ticket of each of two dates of one concert."""
    concert_id = await create_concert(services, "Two nights")
    first = await buy(services, concert_id=concert_id)
    second_date = await create_schedule(services, concert_id, starts_at=datetime.now(UTC) + timedelta(days=30))
    second = await buy(services, concert_id=concert_id, schedule=second_date)
    return first, second


async def status_of(services: Services, purchase: Purchase) -> tuple[str, datetime | None]:
    ticket = await ticket_of(services, purchase.payment_id)
    return ticket["status"], ticket["checked_in_at"]


async def test_a_door_of_one_date_refuses_a_ticket_of_another_and_leaves_it_valid(
    client: Client, services: Services
) -> None:
    first, second = await two_dates(services)
    other_concert = await buy(services, title="Another concert")
    operator = await create_user(services, role="admin")
    code = (await ticket_of(services, first.payment_id))["code"]

    for door in (second.schedule.id, other_concert.schedule.id):
        refused = await client.post(CHECK_IN, json={"code": code, "schedule_id": door}, headers=operator.headers)
        problem = assert_problem(refused, 409, "TICKET_WRONG_SCHEDULE")
        # The door can tell the fan which date the ticket is for.
        assert problem["ticket_schedule_id"] == first.schedule.id
        assert datetime.fromisoformat(problem["ticket_starts_at"]) == first.schedule.starts_at
        assert await status_of(services, first) == ("VALID", None)

    # A door set up for a date that does not exist is told so, and changes nothing.
    unknown = await client.post(CHECK_IN, json={"code": code, "schedule_id": 999_999}, headers=operator.headers)
    assert_problem(unknown, 404, "SCHEDULE_NOT_FOUND")
    for bad in (0, -1, "1", 1.5, 2**63):
        malformed = await client.post(CHECK_IN, json={"code": code, "schedule_id": bad}, headers=operator.headers)
        assert_problem(malformed, 422, "VALIDATION_ERROR")
    assert await status_of(services, first) == ("VALID", None)

    # Its own date's door lets it in; then that door, and another date's, refuse it each for its reason.
    admitted = await client.post(
        CHECK_IN, json={"code": code, "schedule_id": first.schedule.id}, headers=operator.headers
    )
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["status"] == "USED" and admitted.json()["schedule"]["id"] == first.schedule.id
    again = await client.post(CHECK_IN, json={"code": code, "schedule_id": first.schedule.id}, headers=operator.headers)
    assert_problem(again, 409, "TICKET_ALREADY_USED")
    elsewhere = await client.post(
        CHECK_IN, json={"code": code, "schedule_id": second.schedule.id}, headers=operator.headers
    )
    assert_problem(elsewhere, 409, "TICKET_WRONG_SCHEDULE")

    # Without schedule_id a door takes any date's ticket, as before.
    other_code = (await ticket_of(services, second.payment_id))["code"]
    anywhere = await client.post(CHECK_IN, json={"code": other_code}, headers=operator.headers)
    assert anywhere.status_code == 200, anywhere.text


async def test_one_code_at_two_dates_doors_at_once_is_let_in_once_by_its_own_date(
    client: Client, services: Services
) -> None:
    """Ten scans at the ticket's own date's door and ten at another date's, all at once: exactly
    one 200 (at its own door), nine TICKET_ALREADY_USED there, ten TICKET_WRONG_SCHEDULE at the other."""
    first, second = await two_dates(services)
    operator = await create_user(services, role="admin")
    code = (await ticket_of(services, first.payment_id))["code"]
    doors = [first.schedule.id, second.schedule.id] * 10
    responses = await asyncio.gather(
        *(client.post(CHECK_IN, json={"code": code, "schedule_id": door}, headers=operator.headers) for door in doors)
    )
    by_door: dict[int, list[Any]] = {first.schedule.id: [], second.schedule.id: []}
    for door, response in zip(doors, responses, strict=True):
        by_door[door].append((response.status_code, response.json().get("code")))
    assert sorted(by_door[first.schedule.id], key=str) == sorted(
        [(200, code)] + [(409, "TICKET_ALREADY_USED")] * 9, key=str
    )
    assert by_door[second.schedule.id] == [(409, "TICKET_WRONG_SCHEDULE")] * 10
    status, checked_in_at = await status_of(services, first)
    [admitted] = [r.json() for r in responses if r.status_code == 200]
    assert status == "USED" and checked_in_at == datetime.fromisoformat(admitted["checked_in_at"])


async def test_one_code_at_the_same_door_twice_at_once_and_at_two_wrong_doors(
    client: Client, services: Services
) -> None:
    first, second = await two_dates(services)
    operator = await create_user(services, role="admin")
    code = (await ticket_of(services, first.payment_id))["code"]
    second_code = (await ticket_of(services, second.payment_id))["code"]

    # The same door twice at once: one 200, one TICKET_ALREADY_USED.
    twice = await asyncio.gather(
        *(
            client.post(CHECK_IN, json={"code": code, "schedule_id": first.schedule.id}, headers=operator.headers)
            for _ in range(2)
        )
    )
    assert sorted((r.status_code, r.json()["code"] if r.status_code == 409 else "") for r in twice) == [
        (200, ""),
        (409, "TICKET_ALREADY_USED"),
    ]

    # Only wrong doors at once: all refused, the ticket untouched.
    wrong = await asyncio.gather(
        *(
            client.post(
                CHECK_IN, json={"code": second_code, "schedule_id": first.schedule.id}, headers=operator.headers
            )
            for _ in range(10)
        )
    )
    assert [(r.status_code, r.json()["code"]) for r in wrong] == [(409, "TICKET_WRONG_SCHEDULE")] * 10
    assert await status_of(services, second) == ("VALID", None)


async def door_staff(client: Client, operator_headers: dict[str, str], name: str) -> dict[str, str]:
    created = await client.post(
        "/api/v1/admin/door-staff", json={"name": name, "password": "door-password"}, headers=operator_headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name and created.json()["role"] == "door"
    signed_in = await client.post("/api/v1/auth/token", json={"name": name, "password": "door-password"})
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


async def test_door_staff_check_in_and_count_and_nothing_else(client: Client, services: Services) -> None:
    purchase = await buy(services, seats=2)
    operator = await create_user(services, role="admin")
    staff = await door_staff(client, operator.headers, "gate.one")
    schedule_id = purchase.schedule.id
    code = (await ticket_of(services, purchase.payment_id))["code"]
    door = f"/api/v1/admin/schedules/{schedule_id}/door"

    counted = await client.get(door, headers=staff)
    assert counted.status_code == 200, counted.text
    assert counted.json()["checked_in"] == 0 and counted.json()["sold"] == 2
    assert counted.headers["cache-control"] == "no-store"
    checked = await client.post(CHECK_IN, json={"code": code, "schedule_id": schedule_id}, headers=staff)
    assert checked.status_code == 200, checked.text
    assert (await client.get(door, headers=staff)).json() | {"concert": None} == {
        "schedule_id": schedule_id,
        "starts_at": purchase.schedule.starts_at.isoformat().replace("+00:00", "Z"),
        "concert": None,
        "checked_in": 1,
        "sold": 2,
    }
    dates = await client.get("/api/v1/admin/door/dates", headers=staff)
    assert dates.status_code == 200, dates.text
    assert [d["schedule_id"] for d in dates.json()] == [schedule_id]

    # Nothing else of the operators'.
    forbidden = [
        client.post("/api/v1/admin/concerts", json={"title": "Not mine"}, headers=staff),
        client.get(f"/api/v1/admin/concerts/{purchase.concert_id}/dashboard", headers=staff),
        client.get(f"/api/v1/admin/schedules/{schedule_id}/tickets", headers=staff),
        client.get(f"/api/v1/admin/schedules/{schedule_id}/tickets.csv", headers=staff),
        client.post("/api/v1/admin/door-staff", json={"name": "gate.two", "password": "door-password"}, headers=staff),
    ]
    for answer in await asyncio.gather(*forbidden):
        assert_problem(answer, 403, "FORBIDDEN")
    # Nor may a fan do what door staff do, or make door staff.
    fan = purchase.fan.headers
    assert_problem(await client.post(CHECK_IN, json={"code": code}, headers=fan), 403, "FORBIDDEN")
    assert_problem(await client.get(door, headers=fan), 403, "FORBIDDEN")
    assert_problem(
        await client.post("/api/v1/admin/door-staff", json={"name": "gate.three", "password": "x" * 8}, headers=fan),
        403,
        "FORBIDDEN",
    )
    async with services.uow() as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM users WHERE role = 'door'") == 1
        assert await uow.conn.fetchval("SELECT count(*) FROM concerts") == 1

    # Signed out, door staff are out at once.
    assert (await client.delete("/api/v1/auth/token", headers=staff)).status_code == 204
    assert_problem(await client.get(door, headers=staff), 401, "UNAUTHENTICATED")


async def test_door_staff_names_follow_the_sign_up_rules(client: Client, services: Services) -> None:
    operator = await create_user(services, role="admin")
    await door_staff(client, operator.headers, "gate.keeper")
    for name in ("gate.keeper", "GATE.KEEPER", "gate.keeper.", "gate.Keeper"):
        taken = await client.post(
            "/api/v1/admin/door-staff", json={"name": name, "password": "door-password"}, headers=operator.headers
        )
        assert_problem(taken, 409, "USER_NAME_TAKEN")
    bad = await client.post(
        "/api/v1/admin/door-staff", json={"name": "g", "password": "short"}, headers=operator.headers
    )
    assert_problem(bad, 422, "VALIDATION_ERROR")


async def test_operators_list_and_export_a_dates_tickets(client: Client, services: Services) -> None:
    concert_id = await create_concert(services, "Listed")
    purchase = await buy(services, seats=3, concert_id=concert_id)
    schedule_id = purchase.schedule.id
    other_date = await create_schedule(services, concert_id, starts_at=datetime.now(UTC) + timedelta(days=20))
    await buy(services, concert_id=concert_id, schedule=other_date)  # not on this date's list
    operator = await create_user(services, role="admin")
    tickets = [await ticket_of(services, p["id"]) for p in purchase.payments]
    checked = await client.post(
        CHECK_IN, json={"code": tickets[0]["code"], "schedule_id": schedule_id}, headers=operator.headers
    )
    assert checked.status_code == 200, checked.text
    refund = await client.post(f"/api/v1/payments/{purchase.payments[1]['id']}/refund", headers=purchase.fan.headers)
    assert refund.status_code == 200, refund.text

    url = f"/api/v1/admin/schedules/{schedule_id}/tickets"
    first = await client.get(url, params={"limit": 2}, headers=operator.headers)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    rest = await client.get(url, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=operator.headers)
    listed = first.json()["items"] + rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert [(t["id"], t["status"]) for t in listed] == [
        (tickets[2]["id"], "VALID"),
        (tickets[1]["id"], "REFUNDED"),
        (tickets[0]["id"], "USED"),
    ]
    used = await client.get(url, params={"status": "USED"}, headers=operator.headers)
    assert [t["id"] for t in used.json()["items"]] == [tickets[0]["id"]]
    assert_problem(await client.get(url, params={"status": "LOST"}, headers=operator.headers), 422, "VALIDATION_ERROR")

    exported = await client.get(f"{url}.csv", headers=operator.headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == list(CSV_COLUMNS)
    assert [(row[1], row[2], row[8] != "") for row in rows[1:]] == [
        (tickets[0]["code"], "USED", True),
        (tickets[1]["code"], "REFUNDED", False),
        (tickets[2]["code"], "VALID", False),
    ]
    door = await client.get(f"/api/v1/admin/schedules/{schedule_id}/door", headers=operator.headers)
    assert (door.json()["checked_in"], door.json()["sold"]) == (1, 2)

    for path in (url, f"{url}.csv", "/api/v1/admin/schedules/999999/door"):
        missing = path.replace(f"/{schedule_id}/", "/999999/")
        assert_problem(await client.get(missing, headers=operator.headers), 404, "SCHEDULE_NOT_FOUND")

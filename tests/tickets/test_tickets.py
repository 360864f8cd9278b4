"""E-tickets (docs/api.md): one per payment, issued by the payment's statement, listed with
concert, date and seat, a QR code of the code, and check-in at the door by operators."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable
from datetime import datetime

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_user
from tests.support import assert_problem
from tests.tickets.purchases import buy, ticket_of
from ticketing.container import Services
from ticketing.kernel.errors import AppError
from ticketing.tickets.service import qr_svg

Client = AsyncTestClient[Litestar]
CODE = re.compile(r"^[0-9A-F]{32}$")


async def test_each_payment_issues_one_ticket_with_an_unguessable_code(client: Client, services: Services) -> None:
    purchase = await buy(services, seats=3, price=25_000)
    tickets = [await ticket_of(services, p["id"]) for p in purchase.payments]
    assert [t["status"] for t in tickets] == ["VALID"] * 3
    assert all(CODE.match(t["code"]) for t in tickets)
    assert len({t["code"] for t in tickets}) == 3
    assert [t["reservation_id"] for t in tickets] == [p["reservation_id"] for p in purchase.payments]

    page = await client.get("/api/v1/tickets", headers=purchase.fan.headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert [item["payment_id"] for item in items] == [p["id"] for p in reversed(purchase.payments)]  # newest first
    first = items[-1]
    seat = purchase.schedule.seats[0]
    assert first == {
        "id": tickets[0]["id"],
        "code": tickets[0]["code"],
        "status": "VALID",
        "concert": {"id": purchase.concert_id, "title": "Box office", "venue": None},
        "schedule": {"id": purchase.schedule.id, "starts_at": first["schedule"]["starts_at"]},
        "seat": {"id": seat.id, "number": seat.number},
        "reservation_id": purchase.payments[0]["reservation_id"],
        "payment_id": purchase.payments[0]["id"],
        "checked_in_at": None,
    }
    assert datetime.fromisoformat(first["schedule"]["starts_at"]) == purchase.schedule.starts_at
    assert first["schedule"]["starts_at"].endswith(("Z", "+00:00"))


async def test_the_ticket_list_is_paged_and_only_the_callers(client: Client, services: Services) -> None:
    purchase = await buy(services, seats=3)
    other = await buy(services, seats=1, concert_id=purchase.concert_id, schedule=purchase.schedule)
    first = await client.get("/api/v1/tickets", params={"limit": 2}, headers=purchase.fan.headers)
    assert [t["payment_id"] for t in first.json()["items"]] == [p["id"] for p in purchase.payments[:0:-1]]
    cursor = first.json()["next_cursor"]
    rest = await client.get("/api/v1/tickets", params={"limit": 2, "cursor": cursor}, headers=purchase.fan.headers)
    assert [t["payment_id"] for t in rest.json()["items"]] == [purchase.payments[0]["id"]]
    assert rest.json()["next_cursor"] is None
    theirs = await client.get("/api/v1/tickets", headers=other.fan.headers)
    assert [t["payment_id"] for t in theirs.json()["items"]] == [other.payment_id]


async def test_one_ticket_is_its_owners_only(client: Client, services: Services) -> None:
    purchase = await buy(services)
    ticket = await ticket_of(services, purchase.payment_id)
    stranger = await create_user(services)
    path = f"/api/v1/tickets/{ticket['id']}"
    mine = await client.get(path, headers=purchase.fan.headers)
    assert mine.status_code == 200 and mine.json()["code"] == ticket["code"]
    assert_problem(await client.get(path, headers=stranger.headers), 403, "TICKET_USER_MISMATCH")
    assert_problem(await client.get(f"{path}/qr.svg", headers=stranger.headers), 403, "TICKET_USER_MISMATCH")
    assert_problem(await client.get("/api/v1/tickets/999999", headers=stranger.headers), 404, "TICKET_NOT_FOUND")
    assert_problem(await client.get("/api/v1/tickets/999999/qr.svg", headers=stranger.headers), 404, "TICKET_NOT_FOUND")
    assert_problem(await client.get(path), 401, "UNAUTHENTICATED")
    assert_problem(await client.get("/api/v1/tickets/1.0", headers=stranger.headers), 422, "VALIDATION_ERROR")


async def test_the_qr_code_is_an_svg_of_the_code(client: Client, services: Services) -> None:
    purchase = await buy(services)
    ticket = await ticket_of(services, purchase.payment_id)
    response = await client.get(f"/api/v1/tickets/{ticket['id']}/qr.svg", headers=purchase.fan.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-store"
    root = ET.fromstring(response.content)  # noqa: S314 - our own service's answer
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.attrib["width"]) == int(root.attrib["height"]) > 100
    # segno is deterministic: the same code gives the same drawing, another code another one.
    assert response.content == qr_svg(ticket["code"])
    assert response.content != qr_svg("0" * 32)


async def test_a_door_checks_a_ticket_in_once(client: Client, services: Services) -> None:
    purchase = await buy(services, seats=2)
    operator = await create_user(services, role="admin")
    ticket = await ticket_of(services, purchase.payment_id)

    first = await client.post("/api/v1/admin/check-ins", json={"code": ticket["code"]}, headers=operator.headers)
    assert first.status_code == 200, first.text
    used = first.json()
    assert used["id"] == ticket["id"] and used["status"] == "USED"
    checked_in_at = datetime.fromisoformat(used["checked_in_at"])

    # Typed by hand, in lower case: the same ticket, refused with the time of the first check-in.
    again = await client.post(
        "/api/v1/admin/check-ins", json={"code": ticket["code"].lower()}, headers=operator.headers
    )
    problem = assert_problem(again, 409, "TICKET_ALREADY_USED")
    assert datetime.fromisoformat(problem["checked_in_at"]) == checked_in_at
    assert (await ticket_of(services, purchase.payment_id))["checked_in_at"] == checked_in_at

    # The fan sees it used; the other ticket of the payment request is untouched.
    mine = (await client.get("/api/v1/tickets", headers=purchase.fan.headers)).json()["items"]
    assert {t["id"]: t["status"] for t in mine} == {
        ticket["id"]: "USED",
        (await ticket_of(services, purchase.payments[1]["id"]))["id"]: "VALID",
    }


async def test_check_in_refusals(client: Client, services: Services) -> None:
    purchase = await buy(services)
    operator = await create_user(services, role="admin")
    ticket = await ticket_of(services, purchase.payment_id)
    refunded = await client.post(f"/api/v1/payments/{purchase.payment_id}/refund", headers=purchase.fan.headers)
    assert refunded.status_code == 200, refunded.text

    def check_in(body: object, headers: dict[str, str]) -> Awaitable[httpx.Response]:
        return client.post("/api/v1/admin/check-ins", json=body, headers=headers)

    assert_problem(await check_in({"code": ticket["code"]}, operator.headers), 409, "TICKET_REFUNDED")
    assert_problem(await check_in({"code": "A" * 32}, operator.headers), 404, "TICKET_NOT_FOUND")
    for bad in ("", "A" * 31, "A" * 33, "G" * 32, "A" * 31 + "\n", 12345, None):
        assert_problem(await check_in({"code": bad}, operator.headers), 422, "VALIDATION_ERROR")
    assert_problem(await check_in({"code": ticket["code"], "gate": 1}, operator.headers), 422, "VALIDATION_ERROR")
    assert_problem(await check_in({"code": ticket["code"]}, purchase.fan.headers), 403, "FORBIDDEN")
    assert_problem(await check_in({"code": ticket["code"]}, {}), 401, "UNAUTHENTICATED")
    assert (await ticket_of(services, purchase.payment_id))["status"] == "REFUNDED"


async def test_50_doors_scanning_one_code_at_once_let_in_exactly_one(client: Client, services: Services) -> None:
    purchase = await buy(services)
    operator = await create_user(services, role="admin")
    code = (await ticket_of(services, purchase.payment_id))["code"]
    responses = await asyncio.gather(
        *(client.post("/api/v1/admin/check-ins", json={"code": code}, headers=operator.headers) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 49, statuses
    [admitted] = [r.json() for r in responses if r.status_code == 200]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {p["code"] for p in refused} == {"TICKET_ALREADY_USED"}
    # Every refused door is told the one moment the ticket was let in.
    assert {p["checked_in_at"] for p in refused} == {admitted["checked_in_at"]}


async def test_the_database_refuses_a_second_ticket_for_a_payment_and_a_reused_code(services: Services) -> None:
    purchase = await buy(services, seats=2)
    first, second = [await ticket_of(services, p["id"]) for p in purchase.payments]
    insert = (
        "INSERT INTO tickets "
        "(payment_id, reservation_id, user_id, concert_id, schedule_id, seat_id, seat_number, code) "
        "SELECT payment_id, reservation_id, user_id, concert_id, schedule_id, seat_id, seat_number, $2 "
        "FROM tickets WHERE id = $1"
    )
    async with services.uow(autocommit=True) as uow:
        with pytest.raises(asyncpg.UniqueViolationError, match="uq_tickets_payment_id"):
            await uow.conn.execute(insert, first["id"], "B" * 32)
        with pytest.raises(asyncpg.UniqueViolationError, match="uq_tickets_code"):
            await uow.conn.execute("UPDATE tickets SET code = $1 WHERE id = $2", first["code"], second["id"])
        with pytest.raises(asyncpg.CheckViolationError, match="ck_tickets_code_format"):
            await uow.conn.execute("UPDATE tickets SET code = 'SHORT' WHERE id = $1", first["id"])
        with pytest.raises(asyncpg.CheckViolationError, match="ck_tickets_used_has_time"):
            await uow.conn.execute("UPDATE tickets SET status = 'USED' WHERE id = $1", first["id"])


async def test_check_in_at_the_service_names_each_refusal(services: Services) -> None:
    purchase = await buy(services)
    code = (await ticket_of(services, purchase.payment_id))["code"]
    used = await services.tickets.check_in(code)
    assert used.status == "USED" and used.checked_in_at is not None
    with pytest.raises(AppError) as again:
        await services.tickets.check_in(code)
    assert again.value.code == "TICKET_ALREADY_USED"
    assert again.value.extra == {"checked_in_at": used.checked_in_at}
    with pytest.raises(AppError) as unknown:
        await services.tickets.check_in("F" * 32)
    assert unknown.value.code == "TICKET_NOT_FOUND"

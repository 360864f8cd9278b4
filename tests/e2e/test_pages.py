"""The pages stay live and honest through an outage, speak where the fan acts, warn before a hold
ends, and pass axe-core."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Route, expect

from tests.e2e.pages import assert_accessible, buy_ticket_over_http, hold_seats, reach_seat_map, sign_in, sign_up
from tests.factories import create_concert, create_schedule, create_user
from ticketing.container import Services

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


async def test_the_seat_map_recovers_after_an_outage_and_shows_a_seat_taken_meanwhile(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Outage concert")
    schedule = await create_schedule(services, concert, seats=10)
    other = await create_user(services, name="other.fan", balance=100_000)
    base = start_service()
    page = await new_page()
    await sign_up(page, base, "outage.fan")

    # Without the push channel (refused here; a real restart with it: test_fan_pages.py) the
    # page polls, and the polling is what this test follows through the outage.
    async def no_push(route: Route) -> None:
        await route.fulfill(status=503, json={"code": "SERVICE_UNAVAILABLE"})

    await page.route(re.compile(r"/api/v1/events/tickets$"), no_push)
    await reach_seat_map(page, base, concert)
    seat = page.locator('.seat[data-number="3"]')
    await expect(seat).to_have_accessible_name(re.compile(r"^3 ?번 좌석, 10,000원, 예매 가능$"))
    await expect(page.locator("#live-status")).to_be_hidden()

    # The seat list cannot be reached: the page says so instead of looking live.
    async def fail(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route(re.compile(r"/api/v1/schedules/\d+/seats$"), fail)
    await expect(page.locator("#live-status")).to_have_text(re.compile("^연결 중…"))
    await expect(page.locator("body")).to_have_class(re.compile("reconnecting"))

    # Meanwhile another fan buys seat 3; then the server is reachable again.
    seat_id = next(s.id for s in schedule.seats if s.number == 3)
    await buy_ticket_over_http(base, other, concert, seat_id)
    await page.unroute(re.compile(r"/api/v1/schedules/\d+/seats$"), fail)

    await expect(seat).to_have_class(re.compile("taken"), timeout=12_000)  # the retry waits at most 10 s
    await expect(seat).to_have_accessible_name(re.compile(r"^3 ?번 좌석, 10,000원, 선택 불가$"))
    await expect(seat).to_have_attribute("aria-disabled", "true")
    await expect(page.locator("#live-status")).to_be_hidden()
    await expect(page.locator("body")).not_to_have_class(re.compile("reconnecting"))


async def test_a_refused_hold_is_announced_next_to_the_hold_button_on_a_phone(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Phone concert")
    schedule = await create_schedule(services, concert, seats=40)
    other = await create_user(services, name="quick.fan", balance=100_000)
    base = start_service()
    page = await new_page(viewport=PHONE)
    await sign_up(page, base, "phone.fan")
    await reach_seat_map(page, base, concert)
    await page.click('.seat[data-number="38"]')
    await buy_ticket_over_http(base, other, concert, next(s.id for s in schedule.seats if s.number == 38))
    await page.click("#hold")
    alert = page.locator(".selection .inline-alert")
    await expect(alert).to_contain_text("방금 다른 분이 잡은 좌석이 있습니다: 38번 좌석")
    await expect(alert).to_have_attribute("role", "alert")
    await expect(alert).to_be_in_viewport()
    await expect(page.locator("#flash")).to_have_attribute("data-code", "SEAT_UNAVAILABLE")


async def test_the_hold_warns_before_it_ends(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Warning concert")
    await create_schedule(services, concert, seats=5)
    base = start_service(hold_seconds=36)
    page = await new_page()
    await sign_up(page, base, "warned.fan")
    await reach_seat_map(page, base, concert)
    await hold_seats(page, 2)
    warning = page.locator("#hold-warning")
    await expect(warning).to_have_attribute("aria-live", "assertive")
    await expect(warning).to_have_text("좌석 유지 시간이 2분 남았습니다. 결제를 마쳐 주세요.")
    await expect(page.locator("#hold-title")).to_be_focused()  # the step's heading, not the top of the page
    await expect(warning).to_have_text("좌석 유지 시간이 30초 남았습니다.", timeout=15_000)
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"00:[0-3]\d"))


async def test_the_pages_pass_axe_core(start_service: Any, new_page: Any, services: Services) -> None:
    admin = await create_user(services, name="axe.operator", role="admin")
    concert = await create_concert(services, "Axe concert")
    schedule = await create_schedule(services, concert, seats=10)
    fan = await create_user(services, name="axe.buyer", balance=100_000)
    base = start_service()
    await buy_ticket_over_http(base, fan, concert, schedule.seats[0].id)
    for viewport in (PHONE, {"width": 1280, "height": 800}):
        page = await new_page(viewport=viewport)
        await page.goto(base)
        await expect(page.locator(".card").first).to_be_visible()
        await assert_accessible(page)
        await page.goto(f"{base}/signup")
        await assert_accessible(page)
        await sign_up(page, base, f"axe.fan{viewport['width']}")
        await reach_seat_map(page, base, concert)
        await assert_accessible(page)
        await hold_seats(page, 5 if viewport is PHONE else 6)
        await expect(page.locator("#hold-title")).to_be_visible()
        await assert_accessible(page)
        for path, ready in (("/me", "#balance"), ("/tickets", "h1")):
            await page.goto(f"{base}{path}")
            await expect(page.locator(ready)).to_be_visible()
            await assert_accessible(page)
    operator_pages = (
        ("operator-admin", "/admin", "#concert"),
        ("operator-dashboard", f"/admin/concerts/{concert}", "#sold"),
        ("door", "/door", "#door-date"),
    )
    for viewport in (PHONE, {"width": 1280, "height": 800}):
        page = await new_page(viewport=viewport)
        await sign_in(page, base, admin.name)
        for name, path, ready in operator_pages:
            await page.goto(f"{base}{path}")
            await expect(page.locator(ready)).to_be_visible()
            await assert_accessible(page, name)  # and photographed at both viewports


async def test_an_unknown_address_shows_a_page_not_raw_json(start_service: Any, new_page: Any) -> None:
    base = start_service()
    page = await new_page()
    answer = await page.goto(f"{base}/no/such/page")
    assert answer is not None and answer.status == 404
    await expect(page.locator("#not-found")).to_have_text("페이지를 찾을 수 없습니다")
    await expect(page.locator('#app a[href="/"]')).to_be_visible()
    await assert_accessible(page)

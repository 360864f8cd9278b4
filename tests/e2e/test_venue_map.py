"""A date on a venue in a real browser: the zone map (SVG), one zone's seats in their class
colours, two seats side by side of one class bought from it; and the best-available picker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from playwright.async_api import expect

from tests.e2e.pages import assert_accessible, charge, sign_up
from tests.factories import PASSWORD, create_concert, create_user, create_venue_date
from ticketing.container import Services
from ticketing.venues.example import hall_plan

pytestmark = pytest.mark.e2e


async def venue_date(services: Services, concert: int) -> None:
    prices = {"VIP": 30_000, "R": 20_000, "S": 10_000, "A": 5_000}
    await create_venue_date(services, concert, hall_plan(zones=2, rows=4, seats_per_row=6), prices)


async def test_a_fan_buys_two_seats_side_by_side_on_a_zone_map(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Arena concert")
    await venue_date(services, concert)
    base = start_service()
    page = await new_page()
    await sign_up(page, base, "zone.fan")
    await charge(page, base, 100_000)
    await page.goto(f"{base}/concerts/{concert}")
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")
    zone = page.locator("#zone-map [data-zone]").first
    await expect(zone).to_have_attribute("aria-label", "Floor A 구역, 24석 중 24석 남음")
    await expect(page.locator("#class-legend")).to_contain_text("VIP석 · 30,000원 · 24석 남음")
    await zone.focus()
    await page.keyboard.press("Enter")  # a zone opens from the keyboard too
    # The name read out holds the label shown (the rest is visually hidden text).
    third = page.locator("#zone-seats").get_by_role(
        "button", name=re.compile(r"^1열 ?3 ?번, VIP석, 30,000원, 예매 가능$")
    )
    fourth = page.locator("#zone-seats").get_by_role(
        "button", name=re.compile(r"^1열 ?4 ?번, VIP석, 30,000원, 예매 가능$")
    )
    await third.click()
    await fourth.click()
    await expect(third).to_have_attribute("aria-pressed", "true")
    await assert_accessible(page)  # the zone map and a zone's seats
    await expect(page.locator("#selection")).to_contain_text("1열 3번, 1열 4번 · 합계 60,000원")
    await page.click("#hold")
    await expect(page.locator("#hold-title")).to_be_visible()
    await page.click("#pay")
    await expect(page.locator("#confirmation")).to_contain_text("60,000원")
    await expect(page.locator("#balance")).to_contain_text("40,000원")


async def test_a_fan_holds_the_best_available_pair(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Best available concert")
    await venue_date(services, concert)
    base = start_service()
    page = await new_page()
    await sign_up(page, base, "best.fan")
    await page.goto(f"{base}/concerts/{concert}")
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")
    await page.select_option("#best select[name=class]", "R")
    await page.fill("#best input[name=quantity]", "2")
    await page.click("#best button[type=submit]")
    await expect(page.locator("#hold-title")).to_be_visible()
    await expect(page.locator("#pay")).to_contain_text("40,000원")


async def test_an_operator_uploads_a_plan_sees_it_and_adds_a_date_on_it(
    start_service: Any, new_page: Any, services: Services, tmp_path: Path
) -> None:
    admin = await create_user(services, name="operator2", role="admin")
    concert = await create_concert(services, "Plan concert")
    plan_file = tmp_path / "arena.json"
    plan_file.write_bytes(msgspec.json.encode(hall_plan("Little Arena", zones=2, rows=4, seats_per_row=6)))
    base = start_service()
    page = await new_page()
    await page.goto(f"{base}/login")
    await page.fill("input[name=name]", admin.name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.click('#nav a[href="/admin"]')
    await page.set_input_files("#venue input[name=plan]", str(plan_file))
    await expect(page.locator("#plan-preview")).to_contain_text("2개 구역, 48석")
    await expect(page.locator("#plan-preview svg .zone")).to_have_count(2)
    await expect(page.locator("#venue input[name=name]")).to_have_value("Little Arena")
    await page.click("#venue button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("48석")
    for n, price in enumerate(("30000", "20000", "10000", "5000")):
        await page.fill(f"#venue-schedule input[name=price-{n}]", price)
    await page.select_option("#schedule select[name=concert]", label="Plan concert")
    await page.click("#venue-schedule button[type=submit]")
    await expect(page.locator("#flash")).to_have_text("48석으로 날짜를 추가했습니다.")  # not the venue's flash
    async with services.uow(autocommit=True) as uow:
        classes = await uow.conn.fetch(
            "SELECT name, price, seat_count FROM schedule_classes JOIN schedules ON schedules.id = schedule_id "
            "WHERE schedules.concert_id = $1 ORDER BY ordinal",
            concert,
        )
    assert [tuple(row) for row in classes] == [
        ("VIP", 30_000, 24),
        ("R", 20_000, 24),
        ("S", 10_000, 0),
        ("A", 5_000, 0),
    ]

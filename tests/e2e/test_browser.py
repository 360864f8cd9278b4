"""A fan's journey, a race for one seat, a hold running out, and an operator's sale — in a real
browser against the real service."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.factories import PASSWORD, create_concert, create_schedule, create_user
from ticketing.container import Services

pytestmark = pytest.mark.e2e


async def sign_up(page: Page, base: str, name: str, password: str = "a-good-password") -> None:
    await page.goto(f"{base}/signup")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#nav")).to_contain_text(name)


async def charge(page: Page, base: str, amount: int) -> None:
    await page.goto(f"{base}/me")
    await page.fill("input[name=amount]", str(amount))
    await page.click("#charge button[type=submit]")
    await expect(page.locator("#balance")).to_contain_text(f"{amount:,}")


async def reach_seat_map(page: Page, base: str, concert_id: int) -> None:
    await page.goto(f"{base}/concerts/{concert_id}")
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")  # waits until admitted and the dates are shown
    await expect(page.locator(".seat").first).to_be_visible()


async def test_a_fan_buys_a_seat_from_sign_up_to_payment(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Browser concert")
    await create_schedule(services, concert, seats=20, price=30_000)
    base = start_service()
    page = await new_page()

    await sign_up(page, base, "browser.fan")
    await charge(page, base, 100_000)
    await page.goto(base)
    await page.click("text=Get tickets")
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")
    await page.click('.seat[data-number="7"]')
    await expect(page.locator("#hold-title")).to_have_text("Seat 7 is held for you")
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"0[45]:\d\d"))
    await page.click("#pay")
    await expect(page.locator("#confirmation")).to_contain_text("Seat 7")
    await expect(page.locator("#balance")).to_contain_text("70,000")

    await page.goto(f"{base}/me")
    await expect(page.locator("table").first).to_contain_text("30,000")


async def test_two_fans_race_for_one_seat(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Race concert")
    await create_schedule(services, concert, seats=10)
    base = start_service()
    first, second = await new_page(), await new_page()
    await sign_up(first, base, "racer.one")
    await sign_up(second, base, "racer.two")
    await reach_seat_map(first, base, concert)
    await reach_seat_map(second, base, concert)

    await first.click('.seat[data-number="3"]')
    await expect(first.locator("#hold-title")).to_have_text("Seat 3 is held for you")
    await second.click('.seat[data-number="3"]')  # its map still shows seat 3 as free
    await expect(second.locator("#flash")).to_contain_text("this seat was just taken")
    await expect(second.locator('.seat[data-number="3"]')).to_have_class(re.compile("taken"))


async def test_the_hold_counts_down_and_expires(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Short holds")
    await create_schedule(services, concert, seats=5)
    base = start_service(hold_seconds=4)
    page = await new_page()
    await sign_up(page, base, "slow.fan")
    await reach_seat_map(page, base, concert)
    await page.click('.seat[data-number="1"]')
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"00:0[1-4]"))
    await expect(page.locator("#hold-title")).to_have_text("Your hold expired", timeout=10_000)
    await page.click("#again")
    await page.click("[data-schedule] >> nth=0")
    await expect(page.locator('.seat[data-number="1"]')).not_to_have_class(re.compile("taken"))


async def test_an_operator_sets_up_a_concert_and_watches_it(
    start_service: Any, new_page: Any, services: Services
) -> None:
    admin = await create_user(services, name="operator1", role="admin")
    base = start_service()
    page = await new_page()
    await page.goto(f"{base}/login")
    await page.fill("input[name=name]", admin.name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.click("text=Operator")
    await page.fill("#concert input[name=title]", "Operator's gala")
    await page.click("#concert button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("created")
    await page.select_option("#schedule select[name=concert]", label="Operator's gala")
    await page.fill("#schedule input[name=seat_count]", "12")
    await page.click("#schedule button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("12 seats")
    await page.click('a:has-text("Operator\'s gala")')
    await expect(page.locator("#available")).to_have_text("12")
    await expect(page.locator("#sold")).to_have_text("0")

"""A fan's journey, a race for one seat, a hold running out, and an operator's sale — in a real
browser against the real service. The pages speak Korean unless asked otherwise
(test_box_office.py switches to English)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.pages import charge, hold_seats, reach_seat_map, sign_up
from tests.factories import PASSWORD, create_concert, create_schedule, create_user
from ticketing.container import Services

pytestmark = pytest.mark.e2e


async def test_a_fan_buys_a_seat_from_sign_up_to_payment(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Browser concert")
    await create_schedule(services, concert, seats=20, price=30_000)
    base = start_service()
    page = await new_page()

    await sign_up(page, base, "browser.fan")
    await charge(page, base, 100_000)
    await page.goto(base)
    await page.click(f'a[href="/concerts/{concert}"]:has-text("예매하기")')
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")
    await hold_seats(page, 7)
    await expect(page.locator("#hold-title")).to_have_text("7번 좌석을 잡아 두었습니다")
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"0[45]:\d\d"))
    await page.click("#pay")
    await expect(page.locator("#confirmation")).to_contain_text("7번 좌석, 30,000원")
    await expect(page.locator("#balance")).to_contain_text("70,000원")

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

    await second.click('.seat[data-number="3"]')  # picked while still free
    await expect(second.locator('.seat[data-number="3"]')).to_have_class(re.compile("picked"))
    await hold_seats(first, 3)
    await expect(first.locator("#hold-title")).to_have_text("3번 좌석을 잡아 두었습니다")
    await second.click("#hold")  # the map may or may not have caught up: the hold says
    await expect(second.locator("#flash")).to_contain_text("방금 다른 분이 잡은 좌석이 있습니다: 3번 좌석")
    await expect(second.locator("#flash")).to_have_attribute("data-code", "SEAT_UNAVAILABLE")
    await expect(second.locator('.seat[data-number="3"]')).to_have_class(re.compile("taken"))
    await expect(second.locator('.seat[data-number="3"]')).not_to_have_class(re.compile("picked"))
    await expect(second.locator("#hold")).to_be_disabled()  # nothing left picked


async def test_the_hold_counts_down_and_expires(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Short holds")
    await create_schedule(services, concert, seats=5)
    base = start_service(hold_seconds=4)
    page = await new_page()
    await sign_up(page, base, "slow.fan")
    await reach_seat_map(page, base, concert)
    await hold_seats(page, 1)
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"00:0[1-4]"))
    await expect(page.locator("#hold-title")).to_have_text("선점 시간이 끝났습니다", timeout=10_000)
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
    await page.click('#nav a[href="/admin"]')
    await page.fill("#concert input[name=title]", "Operator's gala")
    await page.click("#concert button[type=submit]")
    await expect(page.locator("#flash")).to_have_text("공연을 만들었습니다: Operator's gala")
    await page.select_option("#schedule select[name=concert]", label="Operator's gala")
    await page.fill("#schedule input[name=seat_count]", "12")
    await page.click("#schedule button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("12석")
    await page.click('a:has-text("Operator\'s gala")')
    await expect(page.locator("#available")).to_have_text("12")
    await expect(page.locator("#sold")).to_have_text("0")


async def test_the_pages_solve_the_proof_of_work_gate(start_service: Any, new_page: Any, services: Services) -> None:
    """With the gate on at its default difficulty (sign-up always, every queue join), the pages
    answer each 428 CHALLENGE_REQUIRED by solving its challenge and sending the request again."""
    concert = await create_concert(services, "Gated concert")
    await create_schedule(services, concert, seats=10)
    base = start_service(challenge_enabled=True, challenge_join_waiting=0)
    page = await new_page()
    challenged: list[str] = []
    page.on("response", lambda r: challenged.append(r.url) if r.status == 428 else None)
    page.set_default_timeout(30_000)  # two solutions of about a second each, on a busy machine

    await page.goto(f"{base}/signup")
    await page.fill("input[name=name]", "gated.fan")
    await page.fill("input[name=password]", "a-good-password")
    await page.click("button[type=submit]")
    await expect(page.locator("#nav")).to_contain_text("gated.fan", timeout=30_000)
    await reach_seat_map(page, base, concert)
    assert [url.split("/api/v1")[-1] for url in challenged] == ["/users", f"/concerts/{concert}/queue/tokens"]

"""The operator's pages: the charts drawn from a small sale, the sale state, the orders CSV and
"add a date" right after creating a concert (issue 25), on a phone and a desktop, axe-clean."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.pages import assert_accessible, buy_ticket_over_http, sign_in
from tests.factories import create_concert, create_schedule, create_user
from ticketing.container import Services

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# The element's text fits its box, and the box its tile.
FITS = """(el) => el.scrollWidth <= el.clientWidth + 1
  && el.getBoundingClientRect().right <= el.parentElement.getBoundingClientRect().right + 1"""


async def test_the_dashboard_draws_a_small_sale_and_exports_its_orders(
    start_service: Any, new_page: Any, services: Services
) -> None:
    admin = await create_user(services, name="chart.operator", role="admin")
    concert = await create_concert(services, "Chart concert")
    first = await create_schedule(services, concert, seats=4, price=9_999_999)
    second = await create_schedule(services, concert, seats=2, price=50_000)
    fans = [await create_user(services, name=f"chart.fan{i}", balance=20_000_000) for i in range(3)]
    base = start_service()
    await buy_ticket_over_http(base, fans[0], concert, first.seats[0].id)
    await buy_ticket_over_http(base, fans[1], concert, first.seats[1].id)
    await buy_ticket_over_http(base, fans[2], concert, second.seats[0].id)

    for viewport in (PHONE, DESKTOP):
        page = await new_page(viewport=viewport)
        await sign_in(page, base, admin.name, f"/admin/concerts/{concert}")
        await expect(page.locator("#sold")).to_have_text("3")
        await expect(page.locator("#sale-state")).to_contain_text("예매 중")
        await expect(page.locator("#queue-stats")).to_be_visible()
        await expect(page.locator("#sales-chart path.line")).to_have_attribute("d", re.compile(r"^M.*L"))
        await expect(page.locator("#sales-chart")).to_have_attribute("aria-label", re.compile("누적 판매 3매"))
        await expect(page.locator("#class-chart li")).to_have_count(2)
        await expect(page.locator("#class-chart li").first).to_contain_text("2/4석 판매 (50%)")
        await expect(page.locator("#per-date tbody tr")).to_have_count(2)
        await expect(page.locator("#revenue")).to_have_text("20,049,998원")
        assert await page.locator("#revenue").evaluate(FITS), "the revenue spills out of its tile"
        await assert_accessible(page, "operator-dashboard-sale")

    # The queue sampled by the admitter every 5 s: two samples draw its lines.
    await expect(page.locator("#queue-chart path.line.waiting")).to_have_count(1, timeout=15_000)
    await expect(page.locator("#rate-chart path.line.rate")).to_have_count(1)
    await assert_accessible(page)

    # The orders of one date, as the operator's browser saves them.
    await page.select_option("#export select", str(second.id))
    async with page.expect_download() as waiting:
        await page.click("#export-button")
    download = await waiting.value
    assert download.suggested_filename == f"concert-{concert}-schedule-{second.id}-orders.csv"
    saved = await download.path()
    text = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["user_name"], r["amount"], r["seat"]) for r in rows] == [("chart.fan2", "50000", "1")]
    await expect(page.locator("#export .inline-alert")).to_contain_text("주문 1건")


async def test_a_sold_out_sale_shows_no_queue_figures(start_service: Any, new_page: Any, services: Services) -> None:
    admin = await create_user(services, name="soldout.operator", role="admin")
    concert = await create_concert(services, "Sold-out concert")
    schedule = await create_schedule(services, concert, seats=1)
    fan = await create_user(services, name="soldout.fan", balance=100_000)
    base = start_service()
    await buy_ticket_over_http(base, fan, concert, schedule.seats[0].id)
    page = await new_page(viewport=PHONE)
    await sign_in(page, base, admin.name, f"/admin/concerts/{concert}")
    await expect(page.locator("#sale-state")).to_contain_text("매진")
    await expect(page.locator("#sold")).to_have_text("1")
    await expect(page.locator("#queue-stats")).to_have_count(0)
    await assert_accessible(page)


async def test_add_a_date_goes_to_the_concert_just_created(
    start_service: Any, new_page: Any, services: Services
) -> None:
    admin = await create_user(services, name="create.operator", role="admin")
    await create_concert(services, "Demo concert")
    base = start_service()
    page = await new_page(viewport=DESKTOP)
    await sign_in(page, base, admin.name, "/admin")
    await page.fill("#concert input[name=title]", "Brand new concert")
    await page.click("#concert button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("Brand new concert")
    chosen = page.locator("#schedule select[name=concert] option:checked")
    await expect(chosen).to_have_text("Brand new concert")
    await page.click("#schedule button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("50석으로 날짜를 추가했습니다.")
    concerts = await services.concerts.list_concerts()
    new = next(c for c in concerts if c.title == "Brand new concert")
    assert len(await services.schedules.sales(new.id)) == 1
    await assert_accessible(page)


async def test_the_operator_pauses_resumes_and_closes_the_sale(
    start_service: Any, new_page: Any, services: Services
) -> None:
    admin = await create_user(services, name="pause.operator", role="admin")
    concert = await create_concert(services, "Pause concert")
    schedule = await create_schedule(services, concert, seats=5)
    base = start_service()
    page = await new_page(viewport=PHONE)
    await sign_in(page, base, admin.name, f"/admin/concerts/{concert}")
    await expect(page.locator("#sale-state")).to_contain_text("예매 중")

    await page.click("#pause-sale")
    await expect(page.locator("#sale-state")).to_contain_text("일시 중지")
    await expect(page.locator(".card:has(#controls) > .inline-alert")).to_have_text("판매를 일시 중지했습니다.")
    await expect(page.locator("#resume-sale")).to_be_visible()
    await expect(page.locator("#pause-sale")).to_be_hidden()
    assert (await services.waiting_room.stats(concert)).paused
    await assert_accessible(page)

    await page.click("#resume-sale")
    await expect(page.locator("#sale-state")).to_contain_text("예매 중")
    await expect(page.locator("#pause-sale")).to_be_visible()
    assert not (await services.waiting_room.stats(concert)).paused

    await page.fill("#edit-concert input[name=title]", "Renamed concert")
    await page.click("#edit-concert button[type=submit]")
    await expect(page.locator("#dash-title")).to_have_text("실시간 판매: Renamed concert")
    assert (await services.concerts.get_concert(concert)).title == "Renamed concert"

    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#close-sale")
    await expect(page.locator(".card:has(#controls) > .inline-alert")).to_have_text("판매를 종료했습니다 (날짜 1개).")
    await expect(page.locator("#sale-state")).to_contain_text("판매 종료")
    row = await services.schedules.schedule(schedule.id)
    assert row.reservation_closes_at < schedule.reservation_closes_at

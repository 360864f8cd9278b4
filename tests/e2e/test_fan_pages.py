"""The fan's pages of issue 25 at a phone's and a desktop's size: the seat map through a server
restart, a purchase with the keyboard alone, the concert list's sale states and countdown, the
queue page, the compact phone header — and every fan page axe-clean and photographed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e.pages import assert_accessible, bearer_headers, charge, reach_seat_map, sign_up
from tests.e2e.test_venue_map import venue_date
from tests.factories import create_concert, create_schedule, create_user
from ticketing.container import Services
from ticketing.schedules.schemas import ScheduleIn

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]


async def sell_seat(services: Services, schedule_id: int, number: int) -> None:
    """Another fan's sale, written straight to the database (the server may be down meanwhile)."""
    async with services.uow() as uow:
        await uow.conn.execute(
            "UPDATE seats SET status = 'SOLD' WHERE schedule_id = $1 AND number = $2", schedule_id, number
        )
        await uow.commit()


async def focused(page: Page) -> str:
    """What has the keyboard focus: its data-number, id or text."""
    answer: str = await page.evaluate(
        "() => { const el = document.activeElement;"
        " return el.dataset.number ? `seat ${el.dataset.number}` : el.id ? `#${el.id}` : el.textContent.trim(); }"
    )
    return answer


async def tab_to(page: Page, target: str, most: int = 25) -> int:
    """Press Tab until ``target`` (as ``focused`` says it) has the focus; returns the presses."""
    for presses in range(1, most + 1):
        await page.keyboard.press("Tab")
        if await focused(page) == target:
            return presses
    raise AssertionError(f"{target} not reached in {most} Tab presses (at {await focused(page)})")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_seat_map_comes_back_after_a_server_restart_with_the_seat_taken_meanwhile(
    start_service: Any, new_page: Any, services: Services, viewport: dict[str, int]
) -> None:
    concert = await create_concert(services, "Restart concert")
    schedule = await create_schedule(services, concert, seats=10)
    base = start_service()
    page = await new_page(viewport=viewport)
    await sign_up(page, base, f"restart.fan{viewport['width']}")
    await reach_seat_map(page, base, concert)
    seat = page.locator('.seat[data-number="4"]')
    await expect(seat).not_to_have_class(re.compile("taken"))

    start_service.stop()  # the whole service, not one route: the page must notice by itself
    await expect(page.locator("#live-status")).to_have_text(re.compile("^연결 중…"))
    await expect(page.locator("body")).to_have_class(re.compile("reconnecting"))
    await sell_seat(services, schedule.id, 4)
    start_service.restart()

    await expect(seat).to_have_class(re.compile("taken"), timeout=12_000)  # the retry waits at most 10 s
    await expect(seat).to_have_accessible_name(re.compile(r"^4 ?번 좌석, 10,000원, 선택 불가$"))
    await expect(page.locator("#live-status")).to_be_hidden()
    await expect(page.locator("body")).not_to_have_class(re.compile("reconnecting"))


async def test_a_seat_taken_elsewhere_is_pushed_to_the_open_seat_map(
    start_service: Any, new_page: Any, services: Services
) -> None:
    """With the push channel open the page polls only every 30 s: the seat turns taken well
    before that only because the change was pushed."""
    concert = await create_concert(services, "Pushed concert")
    schedule = await create_schedule(services, concert, seats=10)
    base = start_service()
    page: Page = await new_page(viewport=PHONE)
    await sign_up(page, base, "pushed.fan")
    async with page.expect_request(lambda r: "/api/v1/events?ticket=" in r.url) as opened:
        await reach_seat_map(page, base, concert)
    stream = await opened.value
    assert "authorization" not in stream.headers and "x-queue-token" not in stream.headers
    await page.wait_for_timeout(3500)  # past the 3 s poll the page started with, now slowed down
    await sell_seat(services, schedule.id, 6)
    await expect(page.locator('.seat[data-number="6"]')).to_have_class(re.compile("taken"), timeout=10_000)


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_a_fan_buys_two_seats_with_the_keyboard_alone(
    start_service: Any, new_page: Any, services: Services, viewport: dict[str, int]
) -> None:
    concert = await create_concert(services, "Keyboard concert")
    schedule = await create_schedule(services, concert, seats=20, price=20_000)
    await sell_seat(services, schedule.id, 2)
    base = start_service()
    page = await new_page(viewport=viewport)
    await sign_up(page, base, f"keys.fan{viewport['width']}")
    await charge(page, base, 100_000)
    await page.goto(f"{base}/concerts/{concert}")
    await tab_to(page, "#join")
    await page.keyboard.press("Enter")
    await expect(page.locator("#step h2")).to_have_text("입장했습니다! 날짜를 고르세요")
    await expect(page.locator("#step h2")).to_be_focused()  # the step's heading, not the top of the page
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # the first date

    # The whole seat map is one Tab stop; it is entered at the first free seat.
    await expect(page.locator('.seat[data-number="20"]')).to_be_attached()
    await tab_to(page, "seat 1")
    grid = page.get_by_role("grid", name="좌석표")
    await expect(grid.locator('[tabindex="0"]')).to_have_count(1)
    # Seat 2 is taken: it is reached and heard, and picking it is refused where the fan looks.
    await page.keyboard.press("ArrowRight")
    assert await focused(page) == "seat 2"
    await expect(page.locator(".seat:focus")).to_have_accessible_name(re.compile(r"^2 ?번 좌석, 20,000원, 선택 불가$"))
    await page.keyboard.press("Enter")
    alert = page.locator(".selection .inline-alert")
    await expect(alert).to_have_text("이미 다른 분이 잡았거나 판매된 좌석입니다.")
    await expect(alert).to_be_in_viewport()
    assert await focused(page) == "seat 2"  # the focus stays where the fan is
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Enter")
    await expect(page.locator('.seat[data-number="3"]')).to_have_attribute("aria-pressed", "true")
    # Down goes to the seat drawn below: five columns on a phone, ten on a desktop.
    await page.keyboard.press("ArrowDown")
    below = 8 if viewport is PHONE else 13
    assert await focused(page) == f"seat {below}"
    await page.keyboard.press("Space")
    await expect(page.locator(f'.seat[data-number="{below}"]')).to_have_attribute("aria-pressed", "true")
    await page.keyboard.press("End")  # the ends of the grid's row of ten (two lines on a phone)
    assert await focused(page) == ("seat 10" if viewport is PHONE else "seat 20")
    await page.keyboard.press("Home")
    assert await focused(page) == ("seat 1" if viewport is PHONE else "seat 11")
    assert await tab_to(page, "#hold") == 1  # one Tab from the map to "Hold" (was 49)

    await page.keyboard.press("Enter")
    await expect(page.locator("#hold-title")).to_be_focused()
    await expect(page.locator("#hold-title")).to_have_text(f"3, {below}번 좌석을 잡아 두었습니다")
    await tab_to(page, "#pay")
    await page.keyboard.press("Enter")
    await expect(page.locator("#confirmation")).to_contain_text(f"3, {below}번 좌석, 40,000원")
    await expect(page.locator("#step h2")).to_be_focused()


async def test_the_zone_seats_are_one_tab_stop_with_arrow_keys_by_row(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Zone keys")
    await venue_date(services, concert)
    base = start_service()
    page = await new_page(viewport=DESKTOP)
    await sign_up(page, base, "zone.keys")
    await page.goto(f"{base}/concerts/{concert}")
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")
    zone = page.locator("#zone-map [data-zone]").first
    await zone.focus()
    await page.keyboard.press("Enter")
    grid = page.get_by_role("grid", name="Floor A 구역 좌석표")
    await expect(grid.locator("[data-seat]")).to_have_count(24)
    await expect(grid.locator('[tabindex="0"]')).to_have_count(1)
    await grid.locator('[tabindex="0"]').focus()
    await expect(page.locator(".seat:focus")).to_have_accessible_name(
        re.compile(r"^1열 ?1 ?번, VIP석, 30,000원, 예매 가능$")
    )
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowRight")
    await expect(page.locator(".seat:focus")).to_have_accessible_name(re.compile(r"^2열 ?2 ?번, "))
    await page.keyboard.press("Enter")
    await expect(page.locator(".seat:focus")).to_have_attribute("aria-pressed", "true")
    # The zone is read again every few seconds: the fan's place survives the redraw.
    await page.wait_for_timeout(3500)
    await expect(page.locator(".seat:focus")).to_have_accessible_name(re.compile(r"^2열 ?2 ?번, "))
    assert await tab_to(page, "#hold") == 1


async def test_the_concert_list_shows_each_sale_state_and_counts_down_to_an_opening(
    start_service: Any, new_page: Any, services: Services
) -> None:
    tomorrow = await create_concert(services, "Opens tomorrow")
    await create_schedule(services, tomorrow, is_open=False)
    sold = await create_concert(services, "All gone")
    await sell_seat(services, (await create_schedule(services, sold, seats=1)).id, 1)
    base = start_service()
    page: Page = await new_page(viewport=PHONE)
    soon = await create_concert(services, "Opens in seconds")  # once the service is up
    now = datetime.now(UTC)
    await services.schedules.create_schedule(
        soon,
        ScheduleIn(
            starts_at=now + timedelta(days=10),
            reservation_opens_at=now + timedelta(seconds=8),
            reservation_closes_at=now + timedelta(days=9),
            price=10_000,
            seat_count=5,
        ),
    )
    await page.goto(base)

    def card(concert: int) -> Locator:
        return page.locator(f'[data-concert="{concert}"]')

    await expect(card(tomorrow).locator(".sale-badge")).to_have_text("오픈 예정")
    await expect(card(tomorrow).locator(".opens")).to_contain_text(
        re.compile(r"티켓 오픈 \d{4}\.\d\d\.\d\d\(.\) \d\d:\d\d")
    )
    countdown = card(tomorrow).locator(".opens-in")
    await expect(countdown).to_have_text(re.compile(r"^오픈까지 (\d+일 )?\d\d:\d\d:\d\d$"))
    first = await countdown.text_content()
    await expect(countdown).not_to_have_text(first or "")  # it ticks
    await expect(card(sold).locator(".sale-badge")).to_have_text("매진")
    # At the opening the list is read again, and the sale is on without a reload.
    await expect(card(soon).locator(".sale-badge")).to_have_text("오픈 예정")
    await expect(card(soon).locator(".sale-badge")).to_have_text("예매 중", timeout=15_000)
    await expect(card(soon).locator("a.button")).to_have_text("예매하기")
    await assert_accessible(page)


async def test_the_queue_page_says_how_many_are_ahead_and_when_it_last_updated(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Busy concert")
    await create_schedule(services, concert, seats=10)
    first, second = await create_user(services, name="first.in"), await create_user(services, name="second.in")
    base = start_service(queue_max_active=1)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for fan in (first, second):  # one admitted, one waiting before the page's fan
            joined = await http.post(
                f"/api/v1/concerts/{concert}/queue/tokens", headers=await bearer_headers(base, fan)
            )
            assert joined.status_code == 201, joined.text
    page = await new_page(viewport=PHONE)
    await sign_up(page, base, "third.in")
    await page.goto(f"{base}/concerts/{concert}")
    await page.click("#join")
    await expect(page.locator("#position")).to_have_text("2")
    await expect(page.locator("#ahead")).to_have_text("내 앞에 1명")
    await expect(page.locator("#updated-at")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    await assert_accessible(page, "queue")


async def test_a_waiting_fan_sees_the_sale_paused_and_then_resumed(
    start_service: Any, new_page: Any, services: Services
) -> None:
    """The operator's pause reaches the open queue page (pushed, or polled) in words, in a live
    region; the resume too, and the fan's place is the same throughout."""
    concert = await create_concert(services, "Paused concert")
    await create_schedule(services, concert, seats=10)
    admin = await create_user(services, name="pause.operator", role="admin")
    first = await create_user(services, name="first.paused")
    base = start_service(queue_max_active=1)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        joined = await http.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=await bearer_headers(base, first))
        assert joined.status_code == 201, joined.text
        page = await new_page(viewport=PHONE)
        await sign_up(page, base, "waiting.paused")
        await page.goto(f"{base}/concerts/{concert}")
        await page.click("#join")
        await expect(page.locator("#position")).to_have_text("1")
        note = page.locator("#sale-paused")
        await expect(note).to_be_hidden()
        await expect(note).to_have_attribute("role", "status")

        operator = await bearer_headers(base, admin)
        paused = await http.post(f"/api/v1/admin/concerts/{concert}/sale/pause", headers=operator)
        assert paused.status_code == 200, paused.text
        await expect(note).to_have_text(re.compile("^판매가 일시 중지되었습니다 — 자리는 유지됩니다"))
        await expect(page.locator("#position")).to_have_text("1")
        await assert_accessible(page, "queue-paused")

        resumed = await http.post(f"/api/v1/admin/concerts/{concert}/sale/resume", headers=operator)
        assert resumed.status_code == 200, resumed.text
        await expect(note).to_have_text(re.compile("^판매가 재개되었습니다"))
        await expect(page.locator("#position")).to_have_text("1")
        await assert_accessible(page)


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_every_fan_page_is_axe_clean_and_photographed(
    start_service: Any, new_page: Any, services: Services, viewport: dict[str, int]
) -> None:
    concert = await create_concert(services, "Photo concert")
    await create_schedule(services, concert, seats=20, price=150_000)
    upcoming = await create_concert(services, "Photo premiere")
    await create_schedule(services, upcoming, is_open=False)
    arena = await create_concert(services, "Photo arena")
    await venue_date(services, arena)
    base = start_service()
    page = await new_page(viewport=viewport)
    await page.goto(base)
    await expect(page.locator(".sale-badge").first).to_be_visible()
    await assert_accessible(page, "concerts")
    await page.goto(f"{base}/login")
    await assert_accessible(page, "login")
    await page.goto(f"{base}/signup")
    await assert_accessible(page, "signup")
    await page.goto(f"{base}/no/such/page")
    await assert_accessible(page, "not-found")
    await sign_up(page, base, f"photo.fan{viewport['width']}")
    header = await page.locator("header").bounding_box()
    assert header is not None and header["height"] <= 100, header  # signed in, on a phone too
    await charge(page, base, 1_000_000)
    await reach_seat_map(page, base, concert)
    await assert_accessible(page, "seat-map")
    await page.click('.seat[data-number="5"]')
    await page.click("#hold")
    await expect(page.locator("#hold-title")).to_be_visible()
    await assert_accessible(page, "hold")
    await page.click("#pay")
    await expect(page.locator("#confirmation")).to_be_visible()
    await assert_accessible(page, "paid")
    await page.goto(f"{base}/concerts/{arena}")
    await page.click("#join")
    await page.click("[data-schedule] >> nth=0")
    await page.locator("#zone-map [data-zone]").first.click()
    await expect(page.locator("#zone-seats [data-seat]").first).to_be_visible()
    await assert_accessible(page, "zone-map")
    for path, ready, name in (("/me", "#balance", "wallet"), ("/tickets", ".ticket", "tickets")):
        await page.goto(f"{base}{path}")
        await expect(page.locator(ready).first).to_be_visible()
        await assert_accessible(page, name)


async def test_a_fan_signs_up_with_a_korean_display_name_and_changes_it(start_service: Any, new_page: Any) -> None:
    base = start_service()
    page = await new_page(viewport=PHONE)
    await page.goto(f"{base}/signup")
    await expect(page.get_by_label("아이디 (로그인용)")).to_have_accessible_description(re.compile("^영문, 숫자"))
    await page.fill("input[name=name]", "seoyeon.lee")
    await page.fill("input[name=password]", "a-good-password")
    await page.fill("input[name=display_name]", "이서연")
    await page.click("button[type=submit]")
    await expect(page.locator("#who")).to_have_text("이서연")  # the sign-in name stays seoyeon.lee
    await page.goto(f"{base}/me")
    field = page.locator("#display-name input[name=display_name]")
    await expect(field).to_have_value("이서연")
    await field.fill("p\u0430ypal")  # a Cyrillic a among Latin letters: refused, said beside the form
    await page.click("#display-name button[type=submit]")
    alert = page.locator("#display-name .inline-alert")
    await expect(alert).to_contain_text("비슷해 보이는 다른 문자")
    await expect(alert).to_be_in_viewport()
    await field.fill("서연")
    await page.click("#display-name button[type=submit]")
    await expect(page.locator("#who")).to_have_text("서연")

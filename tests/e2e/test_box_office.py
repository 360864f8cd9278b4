"""The box office in a real browser: several seats held and paid in one go, tickets
with their QR codes, refunds and their refusals in words, the operator's door, and the pages in
Korean by default and in English on request."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.pages import bearer_headers, buy_ticket_over_http, charge, hold_seats, reach_seat_map, sign_in, sign_up
from tests.factories import create_concert, create_schedule, create_user
from ticketing.container import Services
from ticketing.kernel.errors import AppError
from ticketing.schedules.schemas import ScheduleCreatedOut

pytestmark = pytest.mark.e2e

SEOUL = ZoneInfo("Asia/Seoul")
ALL_QR_CODES_LOADED = """(count) => {
  const images = [...document.querySelectorAll(".ticket .qr")];
  return images.length === count && images.every((image) => image.complete && image.naturalWidth > 0);
}"""


def seat_id(schedule: ScheduleCreatedOut, number: int) -> int:
    return next(seat.id for seat in schedule.seats if seat.number == number)


async def test_a_fan_buys_two_seats_in_one_go_sees_their_tickets_and_refunds_one(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Box office night")
    # 16:30 UTC is 01:30 the next day in Seoul and 08:30 or 09:30 the same day in Los Angeles,
    # where this browser is: the ticket must show the venue's day and hour.
    starts_at = (datetime.now(UTC) + timedelta(days=12)).replace(hour=16, minute=30, second=0, microsecond=0)
    await create_schedule(services, concert, starts_at=starts_at, seats=10, price=30_000)
    base = start_service(max_seats_per_hold=2)
    page = await new_page(timezone_id="America/Los_Angeles")
    await sign_up(page, base, "two.seats")
    await charge(page, base, 100_000)
    await reach_seat_map(page, base, concert)

    await expect(page.locator("#seatmap h2")).to_contain_text("최대 2석")  # the setting reaches the page
    for number in (4, 5, 6):
        await page.click(f'.seat[data-number="{number}"]')
    await expect(page.locator("#flash")).to_have_text("한 번에 최대 2석까지 고를 수 있습니다.")
    await expect(page.locator(".seat.picked")).to_have_count(2)
    await expect(page.locator("#selection")).to_have_text("선택: 4, 5번 좌석 · 합계 60,000원")
    await page.click("#hold")
    await expect(page.locator("#hold-title")).to_have_text("4, 5번 좌석을 잡아 두었습니다")
    await page.click("#pay")
    await expect(page.locator("#confirmation")).to_contain_text("4, 5번 좌석, 60,000원")
    await expect(page.locator("#balance")).to_have_text("40,000원")

    await page.click('#step a[href="/tickets"]')
    tickets = page.locator(".ticket")
    await expect(tickets).to_have_count(2)
    await page.wait_for_function(ALL_QR_CODES_LOADED, arg=2)  # fetched with the bearer token
    seat_four = tickets.filter(has=page.locator(".ticket-seat", has_text=re.compile(r"^4번 좌석$")))
    seat_five = tickets.filter(has=page.locator(".ticket-seat", has_text=re.compile(r"^5번 좌석$")))
    in_seoul = starts_at.astimezone(SEOUL)
    await expect(seat_four).to_contain_text("Box office night")
    # As Korean box offices write it: 2026.12.17(목) 01:30, in Seoul time.
    await expect(seat_four.locator(".ticket-date")).to_contain_text(f"{in_seoul:%Y.%m.%d}(")
    await expect(seat_four.locator(".ticket-date")).to_contain_text(") 01:30")
    await expect(seat_four.locator(".status")).to_have_text("사용 가능")

    await seat_four.locator(".refund").click()
    await seat_four.locator(".refund-confirm").click()  # the second tap says how much comes back
    await expect(page.locator("#flash")).to_have_text("환불 완료: 30,000원, 지갑으로 입금되었습니다.")
    await expect(seat_four.locator(".status")).to_have_text("환불")
    await expect(seat_four.locator(".qr")).to_have_count(0)
    await expect(seat_four.locator(".refund")).to_have_count(0)
    await expect(seat_five.locator(".status")).to_have_text("사용 가능")
    await expect(seat_five.locator(".refund")).to_be_visible()

    await page.goto(f"{base}/me")
    await expect(page.locator("#balance")).to_have_text("70,000원")
    await expect(page.locator("table").last).to_contain_text("환불")

    other = await new_page()
    await sign_up(other, base, "next.in.line")
    await reach_seat_map(other, base, concert)
    await expect(other.locator('.seat[data-number="4"]')).not_to_have_class(re.compile("taken"))
    await expect(other.locator('.seat[data-number="5"]')).to_have_class(re.compile("taken"))


async def test_the_seat_page_shows_how_many_more_seats_of_the_date_the_fan_may_take(
    start_service: Any, new_page: Any, services: Services
) -> None:
    """1인 N매 before choosing: the allowance of the date above the map, picks past it refused."""
    concert = await create_concert(services, "Two per fan")
    await create_schedule(services, concert, seats=10, price=10_000)
    base = start_service(max_tickets_per_fan=2)
    page = await new_page()
    await sign_up(page, base, "two.per.fan")
    await charge(page, base, 50_000)
    await reach_seat_map(page, base, concert)

    await expect(page.locator("#allowance")).to_have_text(
        "이 날짜는 1인 2매까지 예매할 수 있습니다. 앞으로 2석 더 고를 수 있습니다."
    )
    for number in (1, 2, 3):
        await page.click(f'.seat[data-number="{number}"]')
    await expect(page.locator("#flash")).to_have_text("이 날짜에는 2석만 더 고를 수 있습니다 (1인 2매).")
    await expect(page.locator(".seat.picked")).to_have_count(2)
    await page.click("#hold")
    await page.click("#pay")
    await expect(page.locator("#confirmation")).to_contain_text("1, 2번 좌석")

    await reach_seat_map(page, base, concert)  # again, after paying: the paid seats count
    await expect(page.locator("#allowance")).to_contain_text("1인 2매까지입니다")
    await page.click('.seat[data-number="3"]')
    await expect(page.locator(".seat.picked")).to_have_count(0)
    await expect(page.locator("#hold")).to_be_disabled()


async def test_a_refused_refund_is_explained_in_words(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Refusals")
    soon = await create_schedule(services, concert, starts_at=datetime.now(UTC) + timedelta(hours=2), price=30_000)
    later = await create_schedule(services, concert, starts_at=datetime.now(UTC) + timedelta(days=10), price=30_000)
    fan = await create_user(services, name="late.fan", balance=100_000)
    admin = await create_user(services, name="door.keeper", role="admin")
    base = start_service()
    too_late = await buy_ticket_over_http(base, fan, concert, seat_id(soon, 1))
    used = await buy_ticket_over_http(base, fan, concert, seat_id(later, 1))
    page = await new_page()
    await sign_in(page, base, fan.name, "/tickets")
    await expect(page.locator(".ticket")).to_have_count(2)

    # Checked in at the door after the fan's page showed the ticket as valid.
    async with httpx.AsyncClient(base_url=base, headers=await bearer_headers(base, admin)) as http:
        assert (await http.post("/api/v1/admin/check-ins", json={"code": used["code"]})).status_code == 200
    for ticket, code, words in [
        (too_late, "REFUND_WINDOW_CLOSED", "공연이 가까워 환불 기간이 끝났습니다."),
        (used, "TICKET_ALREADY_USED", "이미 입장에 사용된 티켓입니다."),
    ]:
        card = page.locator(f'.ticket[data-ticket="{ticket["id"]}"]')
        await card.locator(".refund").click()
        await card.locator(".refund-confirm").click()
        await expect(page.locator("#flash")).to_have_text(words)
        await expect(page.locator("#flash")).to_have_attribute("data-code", code)
        await expect(card.locator(".refund")).to_be_visible()  # offered again, nothing changed

    await page.reload()
    await expect(page.locator(f'.ticket[data-ticket="{used["id"]}"] .status')).to_have_text("입장 완료")
    await expect(page.locator(f'.ticket[data-ticket="{used["id"]}"] .refund')).to_have_count(0)
    await expect(page.locator(f'.ticket[data-ticket="{too_late["id"]}"] .status')).to_have_text("사용 가능")


async def test_an_operator_checks_tickets_in_at_the_door(start_service: Any, new_page: Any, services: Services) -> None:
    concert = await create_concert(services, "Door night")
    schedule = await create_schedule(services, concert, starts_at=datetime.now(UTC) + timedelta(days=10), price=30_000)
    next_day = await create_schedule(services, concert, starts_at=datetime.now(UTC) + timedelta(days=11), price=30_000)
    fan = await create_user(services, name="door.fan", balance=200_000)
    admin = await create_user(services, name="door.operator", role="admin")
    base = start_service()
    ticket = await buy_ticket_over_http(base, fan, concert, seat_id(schedule, 3))
    refunded = await buy_ticket_over_http(base, fan, concert, seat_id(schedule, 4))
    other_date = await buy_ticket_over_http(base, fan, concert, seat_id(next_day, 1))
    async with httpx.AsyncClient(base_url=base, headers=await bearer_headers(base, fan)) as http:
        refund = await http.post(f"/api/v1/payments/{refunded['payment_id']}/refund")
        assert refund.status_code == 200, refund.text

    page = await new_page()
    await sign_in(page, base, admin.name)
    await page.click('#nav a[href="/door"]')
    await expect(page.locator("h1")).to_have_text("입장 확인")
    result = page.locator("#door-result")
    # The door asks which date it serves before it checks anything in, and counts that date.
    await expect(page.locator("#door button[type=submit]")).to_be_disabled()
    await page.select_option("#door-date", str(schedule.id))
    count = page.locator("#door-count")
    await expect(count).to_have_text("입장 0 / 판매 1")  # the refunded ticket is not sold

    grouped = " ".join(ticket["code"][i : i + 4] for i in range(0, 32, 4))  # as the fan's page shows it
    await page.fill("#door input[name=code]", grouped)
    await page.click("#door button[type=submit]")
    await expect(result).to_have_attribute("data-code", "OK")
    await expect(result).to_have_class(re.compile(r"\bok\b"))
    await expect(result).to_contain_text("입장 확인")
    await expect(result).to_contain_text("Door night · ")
    await expect(result).to_contain_text("3번 좌석")
    await expect(count).to_have_text("입장 1 / 판매 1")

    await page.fill("#door input[name=code]", ticket["code"])  # the second scan of the same ticket
    await page.click("#door button[type=submit]")
    await expect(result).to_have_attribute("data-code", "TICKET_ALREADY_USED")
    await expect(result).to_have_class(re.compile(r"\bbad\b"))
    await expect(result).to_contain_text("이미 사용된 티켓")
    await expect(result).to_contain_text("첫 입장: ")

    for code, answer, words in [
        (other_date["code"], "TICKET_WRONG_SCHEDULE", "다른 날짜의 티켓"),
        (refunded["code"], "TICKET_REFUNDED", "환불된 티켓"),
        ("0" * 32, "TICKET_NOT_FOUND", "없는 티켓 코드"),
        ("not a code", "VALIDATION_ERROR", "없는 티켓 코드"),  # no ticket has a code of that shape
    ]:
        await page.fill("#door input[name=code]", code)
        await page.click("#door button[type=submit]")
        await expect(result).to_have_attribute("data-code", answer)
        await expect(result).to_contain_text(words)
        await expect(result).to_have_class(re.compile(r"\bbad\b"))
    await expect(page.locator("#door input[name=code]")).to_be_focused()  # ready for the next fan
    # The date is remembered on this device.
    await page.reload()
    await expect(page.locator("#door-date")).to_have_value(str(schedule.id))


async def test_the_pages_speak_korean_by_default_and_english_on_request(
    start_service: Any, new_page: Any, services: Services
) -> None:
    concert = await create_concert(services, "Bilingual")
    await create_schedule(services, concert, starts_at=datetime.now(UTC) + timedelta(days=10), price=10_000)
    base = start_service()
    page = await new_page()
    await page.goto(base)
    await expect(page.locator("html")).to_have_attribute("lang", "ko")
    await expect(page.locator("h1")).to_have_text("공연")
    await expect(page.locator(".card a.button")).to_have_text("예매하기")

    await page.goto(f"{base}/login")
    await page.fill("input[name=name]", "nobody.here")
    await page.fill("input[name=password]", "not-the-password")
    await page.click("button[type=submit]")
    await expect(page.locator("#flash")).to_have_text("로그인해 주세요(또는 이름과 비밀번호를 확인해 주세요).")

    await expect(page.locator("#lang-switch")).to_have_text("English")
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await expect(page.locator("#lang-switch")).to_have_text("한국어")
    await page.fill("input[name=name]", "nobody.here")
    await page.fill("input[name=password]", "not-the-password")
    await page.click("button[type=submit]")
    await expect(page.locator("#flash")).to_have_text("Please sign in (or check your name and password).")

    await sign_up(page, base, "bilingual.fan")  # the choice is remembered from page to page
    await reach_seat_map(page, base, concert)
    await hold_seats(page, 2)
    await expect(page.locator("#hold-title")).to_have_text("Seat 2 held for you")
    await expect(page.locator("#step")).to_contain_text("Total: ₩10,000")
    await page.reload()  # the hold is shown again, still in English
    await expect(page.locator("#hold-title")).to_have_text("Seat 2 held for you")
    await page.click("#lang-switch")  # switching mid-sale keeps the hold and its countdown
    await expect(page.locator("#hold-title")).to_have_text("2번 좌석을 잡아 두었습니다")
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"0[45]:\d\d"))
    await expect(page.locator("html")).to_have_attribute("lang", "ko")


def service_error_codes() -> set[str]:
    import ticketing.main  # noqa: F401  (every controller, hence every error the service answers)

    codes: set[str] = set()
    classes: list[type[AppError]] = [AppError]
    while classes:
        error = classes.pop()
        codes.add(error.code)
        classes.extend(error.__subclasses__())
    return codes


async def test_every_error_code_and_text_has_words_in_both_languages(start_service: Any, new_page: Any) -> None:
    base = start_service()
    page = await new_page()
    await page.goto(base)
    words: dict[str, list[str]] = await page.evaluate(
        "({ errorsKo: Object.keys(ERRORS.ko), errorsEn: Object.keys(ERRORS.en),"
        " textKo: Object.keys(DICTIONARY.ko), textEn: Object.keys(DICTIONARY.en) })"
    )
    codes = service_error_codes()
    assert {"TICKET_ALREADY_USED", "REFUND_WINDOW_CLOSED", "SEAT_UNAVAILABLE"} <= codes
    assert codes - set(words["errorsKo"]) == set()
    assert codes - set(words["errorsEn"]) == set()
    assert set(words["errorsKo"]) == set(words["errorsEn"])
    assert set(words["textKo"]) == set(words["textEn"])

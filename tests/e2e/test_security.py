"""The sign-in page's ``next`` and the Content-Security-Policy, in a real browser: a crafted
link neither runs script nor sends the fan to another site, and the
pages and the API docs work under the policy (``new_page`` fails a test on any CSP violation)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from tests.e2e.pages import sign_in
from tests.factories import PASSWORD, create_concert, create_schedule, create_user
from ticketing.container import Services

pytestmark = pytest.mark.e2e

HOSTILE_NEXT = [
    "javascript:alert(document.domain)",
    "javascript:window.__pwned=1",
    "//example.org",
    "https://example.org/",
    "/\\example.org",
    "/\t/example.org",
]


async def sign_in_with_next(page: Page, base: str, name: str, next_value: str) -> list[str]:
    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    # Nothing may leave this machine: a request to another host fails instead of waiting on DNS.
    await page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    await page.goto(f"{base}/login?next={quote(next_value, safe='')}")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    # Signing in hashes a password (argon2): slower than the default 5 s on a busy machine.
    await expect(page.locator("#nav")).to_contain_text(name, timeout=15_000)
    await expect(page).to_have_url(f"{base}/")
    return dialogs


async def test_a_hostile_next_neither_runs_script_nor_leaves_the_site(
    start_service: Any, new_page: Any, services: Services
) -> None:
    fan = await create_user(services, name="next.fan")
    base = start_service()
    for next_value in HOSTILE_NEXT:
        page = await new_page()
        dialogs = await sign_in_with_next(page, base, fan.name, next_value)
        assert dialogs == [], next_value
        assert await page.evaluate("window.__pwned") is None, next_value
        await expect(page.locator("h1")).to_have_text("공연")


async def test_a_path_of_the_site_is_followed_after_sign_in(
    start_service: Any, new_page: Any, services: Services
) -> None:
    fan = await create_user(services, name="back.fan")
    base = start_service()
    page = await new_page()
    await page.goto(f"{base}/me")  # signed out: sent to the sign-in page, then back here
    await expect(page).to_have_url(f"{base}/login?next=%2Fme")
    await page.fill("input[name=name]", fan.name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/me", timeout=15_000)
    await expect(page.locator("#balance")).to_be_visible()


async def test_the_api_docs_work_offline_under_the_policy(start_service: Any, new_page: Any, clean: None) -> None:
    base = start_service()
    page = await new_page()
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(base) else outside.append(request.url))
    await page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    await page.goto(f"{base}/docs")
    await expect(page.locator(".swagger-ui .title").first).to_contain_text("Concert reservation service")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert outside == []


async def test_the_waiting_room_draws_under_the_policy(start_service: Any, new_page: Any, services: Services) -> None:
    """The waiting page's progress bar was an inline style attribute, which the policy refuses."""
    concert = await create_concert(services, "Busy concert")
    await create_schedule(services, concert, seats=5)
    first, second = await create_user(services, name="first.fan"), await create_user(services, name="second.fan")
    base = start_service(queue_max_active=1)
    pages = []
    for fan in (first, second):
        page = await new_page()
        await page.goto(f"{base}/login?next=%2Fconcerts%2F{concert}")
        await page.fill("input[name=name]", fan.name)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.click("#join", timeout=15_000)
        pages.append(page)
    await expect(pages[0].locator("[data-schedule]").first).to_be_visible()  # admitted
    await expect(pages[1].locator("#position")).to_have_text("1")  # waits behind the first
    await expect(pages[1].locator(".progress > div")).to_have_attribute("style", "width: 100%;")


async def test_sign_out_revokes_the_token_on_the_server(start_service: Any, new_page: Any, services: Services) -> None:
    """The page's Sign out calls DELETE /api/v1/auth/token: the token it held no
    longer reads the wallet, not merely forgotten by the browser."""
    fan = await create_user(services, name="leaving.page", balance=1_000)
    base = start_service()
    page: Page = await new_page()
    await sign_in(page, base, fan.name)
    token = await page.evaluate("localStorage.getItem('access_token')")
    wallet = f"{base}/api/v1/wallets/{fan.wallet_id}"
    async with httpx.AsyncClient() as http:
        assert (await http.get(wallet, headers={"Authorization": f"Bearer {token}"})).status_code == 200
        await page.click("#signout")
        await expect(page.locator('#nav a[href="/login"]')).to_be_visible()
        assert await page.evaluate("localStorage.getItem('access_token')") is None
        after = await http.get(wallet, headers={"Authorization": f"Bearer {token}"})
        assert after.status_code == 401, after.text
        assert after.json()["code"] == "UNAUTHENTICATED"

"""What a fan or an operator does on the pages (shared by the browser tests), and buying a ticket
over the HTTP API for tests whose subject is what comes after (refunds, the door)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.factories import PASSWORD, TestUser


async def sign_up(page: Page, base: str, name: str, password: str = "a-good-password") -> None:
    await page.goto(f"{base}/signup")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page.locator("#nav")).to_contain_text(name)


async def sign_in(page: Page, base: str, name: str, next_path: str = "/") -> None:
    await page.goto(f"{base}/login?next={next_path}")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    # Signing in hashes a password (argon2): slower than the default 5 s on a busy machine.
    await expect(page.locator("#nav")).to_contain_text(name, timeout=15_000)


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


async def hold_seats(page: Page, *numbers: int) -> None:
    """Pick the seats on the map, then hold them in one request."""
    for number in numbers:
        await page.click(f'.seat[data-number="{number}"]')
    await page.click("#hold")


async def bearer_headers(base: str, user: TestUser) -> dict[str, str]:
    """The service under test signs its own access tokens (not the test harness's secret)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        answer = await http.post("/api/v1/auth/token", json={"name": user.name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def buy_ticket_over_http(base: str, fan: TestUser, concert_id: int, seat_id: int) -> Any:
    """Through the waiting room, hold and pay one seat with the API as ``fan``; returns the ticket."""
    async with httpx.AsyncClient(base_url=base, headers=await bearer_headers(base, fan), timeout=30) as http:
        issued = await http.post(f"/api/v1/concerts/{concert_id}/queue/tokens")
        assert issued.status_code in (200, 201), issued.text
        queue = {"X-Queue-Token": issued.json()["token"]}
        for _ in range(100):  # the service admits 1,000 a second here (start_service)
            info = (await http.get("/api/v1/queue/tokens/me", headers=queue)).json()
            if info["status"] == "ACTIVE":
                break
            await asyncio.sleep(info["poll_after_ms"] / 1000)
        held = await http.post("/api/v1/reservations", json={"seat_id": seat_id}, headers=queue)
        assert held.status_code == 201, held.text
        paid = await http.post("/api/v1/payments", json={"reservation_id": held.json()["id"]}, headers=queue)
        assert paid.status_code == 201, paid.text
        tickets = (await http.get("/api/v1/tickets")).json()["items"]
    [ticket] = [ticket for ticket in tickets if ticket["payment_id"] == paid.json()["id"]]
    return ticket


# axe-core (the accessibility engine, from npm, never a CDN): fetched once with `npm pack` into a
# git-ignored folder of the test tree and reused from there. Run in the page by Playwright (which is
# not bound by the page's Content-Security-Policy), so the pages keep their strict policy.
AXE_VERSION = "4.14.1"
AXE_FILE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}"""


def axe_source() -> str:
    if not AXE_FILE.exists():
        AXE_FILE.parent.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            npm = shutil.which("npm") or "npm"
            subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", folder],
                check=True,
                capture_output=True,
                timeout=300,
            )
            with tarfile.open(Path(folder) / f"axe-core-{AXE_VERSION}.tgz") as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                AXE_FILE.write_bytes(member.read())
    return AXE_FILE.read_text()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


async def assert_accessible(page: Page, name: str | None = None) -> None:
    """No serious or critical axe-core violation on the page as it is now. With ``name``, the
    page is also photographed (whole page) into the git-ignored ``test-results/screenshots/``
    as ``<name>-<viewport width>.png``: every page at both viewports, for a person to look at."""
    if name is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        width = (page.viewport_size or {"width": 0})["width"]
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source() + "\n;undefined")
    violations = await page.evaluate(AXE_RUN)
    assert violations == [], f"{page.url}: {violations}"

"""Browser tests: the real service (granian, in a subprocess) on the test servers, driven by
Playwright in Debian's Chromium. Run with ``make test-e2e``; a failing test leaves a screenshot
in ``test-results/``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from bench.server import HOST, ServiceUnderTest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from ticketing.config import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def start_service(settings: Settings, clean: None) -> Iterator[Any]:
    """Start the service with the given settings; returns its base URL. ``start.stop()`` and
    ``start.restart()`` stop and start the last one again on the same port, as a deployment would."""
    services: list[tuple[ServiceUnderTest, dict[str, object]]] = []

    def start(**overrides: object) -> str:
        service = ServiceUnderTest(settings.database_url or "", settings.redis_url or "", settings.data_dir)
        chosen = {"queue_admit_per_second": 1000, **overrides}
        service.start(**chosen)
        services.append((service, chosen))
        return f"http://{HOST}:{service.port}"

    def stop() -> None:
        services[-1][0].stop()

    def restart() -> None:
        service, chosen = services[-1]
        service.start(**chosen)

    start.stop = stop  # type: ignore[attr-defined]
    start.restart = restart  # type: ignore[attr-defined]
    yield start
    for service, _ in services:
        service.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


@pytest.fixture
async def new_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Opens pages; every test fails if a page broke the Content-Security-Policy (the browser
    logs each refused script, style or handler to the console) or raised an uncaught error."""
    contexts: list[tuple[BrowserContext, Page]] = []
    problems: list[str] = []

    async def open_page(**context_options: Any) -> Page:
        """``context_options`` go to ``Browser.new_context`` (e.g. ``timezone_id``)."""
        context = await browser.new_context(**{"viewport": {"width": 420, "height": 900}, **context_options})
        page = await context.new_page()
        page.set_default_timeout(15_000)
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}")
                if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        contexts.append((context, page))
        return page

    yield open_page
    failed = getattr(request.node, "report_call", None)
    for index, (context, page) in enumerate(contexts):
        if failed is not None and failed.failed:
            RESULTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(RESULTS / f"{request.node.name}-{index}.png"), full_page=True)
        await context.close()
    assert not problems, problems

"""Security headers on every answer, and pages and API docs that need no
inline script, no inline style and nothing from another site to work under that policy."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.main import create_app
from ticketing.web.controllers import STATIC_DIR

Client = AsyncTestClient[Litestar]


def csp_directives(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def assert_security_headers(response: Any) -> dict[str, str]:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    directives = csp_directives(response)
    assert directives["script-src"] == "script-src 'self'"  # no inline script, no other origin
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["default-src"] == "default-src 'self'"
    assert directives["base-uri"] == "base-uri 'none'"
    assert directives["object-src"] == "object-src 'none'"
    return directives


async def test_an_api_answer_carries_the_security_headers(client: Client) -> None:
    response = await client.get("/api/v1/concerts")
    assert response.status_code == 200
    assert csp_directives(response)["style-src"] == "style-src 'self'"
    assert_security_headers(response)
    assert_security_headers(await client.get("/healthz"))  # pre-encoded bytes, not a Response


async def test_a_page_carries_the_security_headers(client: Client) -> None:
    response = await client.get("/login", params={"next": "javascript:alert(1)"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert csp_directives(response)["style-src"] == "style-src 'self'"
    assert_security_headers(response)
    assert_security_headers(await client.get("/static/app.js"))


async def test_errors_carry_the_security_headers(client: Client) -> None:
    assert_security_headers(assert_problem_response(await client.get("/no/such/page"), 404, "NOT_FOUND"))
    assert_security_headers(
        assert_problem_response(
            await client.post("/api/v1/users", content=b"{", headers={"Content-Type": "application/json"}),
            422,
            "VALIDATION_ERROR",
        )
    )
    assert_security_headers(await client.get("/api/v1/users/me"))  # 401 from the bearer check


async def test_an_unknown_page_opened_in_a_browser_is_an_html_404_and_the_api_stays_json(client: Client) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await client.get("/no/such/page", headers=browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js">' in page.text  # the shell: app.js says "page not found"
    assert_security_headers(page)
    assert_problem_response(await client.get("/api/v1/no/such/thing", headers=browser), 404, "NOT_FOUND")
    assert_problem_response(await client.get("/static/no-such-file.js", headers=browser), 404, "NOT_FOUND")
    assert_problem_response(await client.get("/api/v1/concerts/999999"), 404, "CONCERT_NOT_FOUND")


def assert_problem_response(response: Any, status: int, code: str) -> Any:
    assert_problem(response, status, code)
    return response


async def test_the_api_docs_are_served_from_this_origin(client: Client) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    directives = assert_security_headers(docs)
    assert directives["style-src"] == "style-src 'self' 'unsafe-inline'"  # Swagger UI's own styles, /docs only
    html = docs.text
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("/") or s.startswith("data:") for s in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    for source in sources:
        if source.startswith("/"):
            asset = await client.get(source)
            assert asset.status_code == 200, source
            assert asset.content
    assert (await client.get("/docs/openapi.json")).json()["info"]["title"]


def test_the_pages_have_no_inline_script_style_or_handler() -> None:
    shell = (STATIC_DIR / "shell.html").read_text()
    scripts = [(STATIC_DIR / name).read_text() for name in ("app.js", "i18n.js", "operator.js")]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", shell)
    for text in (shell, *scripts):
        assert not re.search(r"""\son[a-z]+\s*=\s*["'`$]""", text), "an inline event handler"
        assert not re.search(r"""\sstyle\s*=\s*["'`$]""", text), "an inline style attribute"


async def test_every_page_path_carries_the_seats_per_hold_setting(settings: Settings, clean: None) -> None:
    """The seat map caps a fan's picks at TICKETING_MAX_SEATS_PER_HOLD, which reaches the pages in
    the shell (a <meta>: the policy allows no inline script)."""
    app = create_app(settings.model_copy(update={"max_seats_per_hold": 3}))
    async with AsyncTestClient(app=app) as client:
        for path in ("/", "/tickets", "/door", "/concerts/1", "/admin/concerts/1"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert '<meta name="max-seats-per-hold" content="3">' in response.text, path
            assert '<script src="/static/i18n.js"></script>' in response.text, path
        assert (await client.get("/static/i18n.js")).status_code == 200

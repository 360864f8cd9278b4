"""Pages for fans and operators. Every page path answers the same small HTML shell;
``/static/app.js`` draws the view of the path from the JSON API (no external CDN, no build step),
in Korean or English with the words of ``/static/i18n.js``. The shell carries the one setting the
pages need before any request, ``TICKETING_MAX_SEATS_PER_HOLD`` (a ``<meta>``: no inline script).

The API docs (``/docs``) are Swagger UI served from this origin: its assets come from the
``swagger-ui-py`` package (``/static/swagger-ui/``), so ``/docs`` works offline, pulls nothing
from a CDN and runs under the same script policy as the pages (``edge/headers.py``)."""

from __future__ import annotations

import html
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

from ticketing.edge.problems import http_exception_handler

STATIC_DIR = Path(__file__).parent / "static"
SHELL_TEMPLATE = (STATIC_DIR / "shell.html").read_text(encoding="utf-8")

PAGE_PATHS = [
    "/",
    "/signup",
    "/login",
    "/me",
    "/tickets",
    "/concerts/{concert_id:int}",
    "/admin",
    "/admin/concerts/{concert_id:int}",
    "/door",
]


@cache
def _shell(max_seats_per_hold: int, refund_cutoff_hours: int, max_refunds: int) -> bytes:
    return (
        SHELL_TEMPLATE.replace("{max_seats_per_hold}", str(max_seats_per_hold))
        .replace("{refund_cutoff_hours}", str(refund_cutoff_hours))
        .replace("{max_refunds_per_date}", str(max_refunds))
        .encode()
    )


def shell(request: Request[Any, Any, Any]) -> bytes:
    """The page shell with the settings the pages state before a fan acts (the most seats of one
    hold; the refund terms shown before paying); built once: they do not change while serving."""
    settings = request.app.state.settings
    return _shell(settings.max_seats_per_hold, settings.refund_cutoff_hours, settings.max_refunds_per_fan_per_date)


@get(PAGE_PATHS, include_in_schema=False, media_type=MediaType.HTML)
async def page(request: Request[Any, Any, Any]) -> Response[bytes]:
    body = shell(request)
    return Response(body, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})


def not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[bytes]:
    """An unknown page URL opened in a browser: the shell with status 404 (app.js draws the "page
    not found" view in the fan's language). The API, the static files and anything that does not
    ask for HTML keep the problem+json answer."""
    path = request.url.path
    wants_page = "text/html" in request.headers.get("accept", "")
    if not wants_page or path.startswith(("/api/", "/static/", "/docs")):
        return http_exception_handler(request, exc)
    body = shell(request)
    return Response(body, status_code=404, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})


static_files = create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False)


def _swagger_ui_dir() -> Path:
    # Located without importing the package: its __init__ loads web-framework adapters we never use.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing (uv sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


SWAGGER_UI_PATH = "/static/swagger-ui"
swagger_ui_files = create_static_files_router(
    path=SWAGGER_UI_PATH, directories=[_swagger_ui_dir()], include_in_schema=False, name="swagger_ui"
)


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    """Swagger UI from this origin. The page is constant (``docs.js`` fetches the schema from
    ``/docs/openapi.json``), so it is built once; no inline script, no OAuth2 redirect page (the
    API has no OAuth2 flow)."""

    def __init__(self, title: str, path: str = "/") -> None:
        super().__init__(path=path, favicon='<link rel="icon" href="data:,">', style="")
        self._page = (
            "<!doctype html>"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title>{self.favicon}"
            f'<link rel="stylesheet" href="{SWAGGER_UI_PATH}/swagger-ui.css">'
            "</head><body>"
            '<div id="swagger-ui"></div>'
            f'<script src="{SWAGGER_UI_PATH}/swagger-ui-bundle.js"></script>'
            f'<script src="{SWAGGER_UI_PATH}/swagger-ui-standalone-preset.js"></script>'
            '<script src="/static/docs.js"></script>'
            "</body></html>"
        ).encode()

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self._page

"""Pages for fans and operators. Every page path answers the same small HTML shell;
``/static/app.js`` draws the view of the path from the JSON API (no external CDN, no build step)."""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Response, get
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"
SHELL = (STATIC_DIR / "shell.html").read_bytes()

PAGE_PATHS = [
    "/",
    "/signup",
    "/login",
    "/me",
    "/concerts/{concert_id:int}",
    "/admin",
    "/admin/concerts/{concert_id:int}",
]


@get(PAGE_PATHS, include_in_schema=False, media_type=MediaType.HTML)
async def page() -> Response[bytes]:
    return Response(SHELL, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache"})


static_files = create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False)

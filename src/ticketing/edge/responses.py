"""Lean responses: ``JsonBytes`` for JSON the service already encoded, ``CachedJson`` for an
answer with an ``ETag`` (304, compressed once per body), ``CompressedJson`` for a large answer that
changes with every read, ``ProblemBytes`` for a problem a handler returns, and
``OPTIONS`` answers naming every method of a path."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from io import BytesIO
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.enums import CompressionEncoding
from litestar.middleware.compression.facade import CompressionFacade
from litestar.middleware.compression.gzip_facade import GzipCompression
from litestar.response.base import ASGIResponse
from litestar.routes import HTTPRoute
from litestar.types import Receive, Scope, Send


def answer_options_with_every_method(app: Litestar) -> None:
    """``OPTIONS`` on any API path answers 204 with ``Allow`` naming every method of the path, and
    needs no bearer token (a CORS preflight never carries one).

    Litestar adds an ``OPTIONS`` handler to each route it builds, listing the methods of that
    route; a path whose handlers are registered in two steps gets a second route that keeps the
    first one's ``OPTIONS`` handler, which then left out the later methods (``/api/v1/auth/token``
    answered ``Allow: OPTIONS, POST`` without DELETE). And that handler inherits its controller's
    before-request hook, so it asked for a bearer token (401). Each such handler gets a hook of
    its own that answers from the finished route; called once, when the app is built."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        # HEAD is answered for every GET (``RequestContextMiddleware``).
        allow = ", ".join(sorted(route.methods | ({"HEAD"} if "GET" in route.methods else set())))
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"} and handler.handler_name == "options_handler":
                handler.before_request = _allow_answer(allow)


def _allow_answer(allow: str) -> Callable[[Request[Any, Any, Any]], Awaitable[Response[None]]]:
    async def answer(_: Request[Any, Any, Any]) -> Response[None]:
        return Response(content=None, status_code=204, headers={"Allow": allow})

    return answer


class JsonBytes(ASGIResponse):
    """A response of JSON the service already encoded (msgspec), sent as two ASGI messages.

    For handlers that hold the body as bytes: returning this (annotated ``-> JsonBytes``) skips
    Litestar's ``Response`` -> ``ASGIResponse`` conversion (header objects, media-type checks,
    type-encoder merging), a cost of every request on the hot reads. Document the body with
    ``responses={200: body_of(...)}``: OpenAPI cannot see inside bytes.
    """

    __slots__ = ()

    def __init__(self, body: bytes, status_code: int = 200) -> None:  # not ASGIResponse.__init__: nothing to build
        self.body = body
        self.status_code = status_code
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send(send, self.status_code, [(b"content-type", b"application/json")], self.body)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """An answer as its two ASGI messages, ``Content-Length`` added to ``headers`` (but to a 304's,
    which has no body)."""
    if status != 304:
        headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class ProblemBytes(JsonBytes):
    """An encoded problem+json answer and its headers (``Retry-After``), sent as it is: what
    ``edge.problems.problem_answer`` gives a handler that returns, rather than raises, an answer
    most of its requests get (a race's lost seat)."""

    __slots__ = ("extra_headers",)

    def __init__(self, body: bytes, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(body, status_code)
        self.extra_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/problem+json"), *self.extra_headers]
        await _send(send, self.status_code, headers, self.body)


# Litestar's compressors (brotli, else gzip) with this config, for the answers that can be large:
# per answer by ``CompressedJson`` (a seat list, which changes with every read), once per body by
# ``CachedJson`` (the answers with an ETag); only from COMPRESS_MIN_BYTES (a 50-seat list stays as
# it was), and the small hot reads (queue poll, dates) never run them.
COMPRESS_MIN_BYTES = 8 * 1024
# Measured on a 1,000-seat zone (80 KB of JSON), per answer: brotli quality 2 with a 256 KiB
# window 0.47 ms and 3.5 KB; Litestar's defaults (quality 5, 4 MiB window: the window alone is
# ~3 ms of allocation per answer) 2-4 ms; gzip level 2 about 0.4 ms and 7 KB (level 9: 11 ms).
COMPRESSION = CompressionConfig(
    backend="brotli",
    brotli_quality=2,
    brotli_lgwin=18,
    brotli_gzip_fallback=True,
    gzip_compress_level=2,
    minimum_size=COMPRESS_MIN_BYTES,
)


class CompressedJson(JsonBytes):
    """Encoded JSON, compressed for this request as Litestar's ``CompressionMiddleware`` does with
    ``COMPRESSION`` (the same encoding chosen, the same headers: ``Content-Encoding`` and ``Vary:
    Accept-Encoding`` only when compressed). Returned by the handler instead of the middleware on
    the route, so that the route can take the fast lane (``edge/lane.py``) and a small answer
    does not build a compressor it then throws away (the middleware does, for every request that
    accepts an encoding)."""

    __slots__ = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body
        encoding = _accepted_encoding(scope) if len(body) >= COMPRESSION.minimum_size else None
        headers = [(b"content-type", b"application/json")]
        if encoding is not None:
            body = compress(body, encoding)
            headers += [(b"content-encoding", encoding.encode()), (b"vary", b"Accept-Encoding")]
        await _send(send, self.status_code, headers, body)


class CachedJson(JsonBytes):
    """Encoded JSON with its ``ETag``: a request whose ``If-None-Match`` names it is answered 304
    without the body (RFC 9110 section 13.1.2: a weak comparison, ``W/`` prefixes aside).

    Compressed with Litestar's own compressors and the same ``COMPRESSION`` config and
    negotiation as ``CompressedJson``, but **once per body**: the
    compressed bytes are kept by ETag (the ETag is a hash of the body) and every later request
    for that body sends them. A 1,000-seat zone asked for by thousands of fans between two
    changes is compressed once, not thousands of times (0.47 ms each)."""

    __slots__ = ("cache_control", "etag")

    def __init__(self, body: bytes, etag: str, cache_control: str = "no-cache") -> None:
        super().__init__(body)
        self.etag = etag
        self.cache_control = cache_control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"etag", self.etag.encode()),
            (b"cache-control", self.cache_control.encode()),
            (b"vary", b"Accept-Encoding"),
        ]
        if _names_etag(scope, self.etag):
            await _send(send, 304, headers, b"")
            return
        body = self.body
        encoding = _accepted_encoding(scope) if len(body) >= COMPRESSION.minimum_size else None
        if encoding is not None:
            body = COMPRESSED_BODIES.get(self.etag, encoding, body)
            headers.append((b"content-encoding", encoding.encode()))
        await _send(send, self.status_code, [(b"content-type", b"application/json"), *headers], body)


def _accepted_encoding(scope: Scope) -> str | None:
    """The encoding ``CompressionMiddleware`` would choose for this request (brotli, else gzip)."""
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            preferred = CompressionEncoding(COMPRESSION.compression_facade.encoding).value
            if preferred.encode() in value:
                return preferred
            if COMPRESSION.gzip_fallback and b"gzip" in value:
                return "gzip"
            return None
    return None


class CompressedBodies:
    """Compressed bodies by (ETag, encoding), at most ``limit`` of them (the oldest go first):
    what a process keeps is the compressed size of the answers in use — a 60,000-seat date's 60
    zones are about 0.2 MB in brotli."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._bodies: dict[tuple[str, str], bytes] = {}

    def get(self, etag: str, encoding: str, body: bytes) -> bytes:
        key = (etag, encoding)
        found = self._bodies.get(key)
        if found is None:
            found = self._bodies[key] = compress(body, encoding)
            if len(self._bodies) > self._limit:
                del self._bodies[next(iter(self._bodies))]
        return found

    def size_bytes(self) -> int:
        return sum(sys.getsizeof(body) for body in self._bodies.values())


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` compressed as ``CompressionMiddleware`` would with ``COMPRESSION``."""
    buffer = BytesIO()
    facade: CompressionFacade = (
        GzipCompression(buffer, CompressionEncoding.GZIP, COMPRESSION)
        if encoding == "gzip"
        else COMPRESSION.compression_facade(buffer, encoding, COMPRESSION)
    )
    facade.write(body)
    facade.close()
    return buffer.getvalue()


# Enough for the zones of a few large dates in use at once, and the venue plans.
COMPRESSED_BODIES = CompressedBodies(limit=1_024)


def _names_etag(scope: Scope, etag: str) -> bool:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            wanted = etag.encode().removeprefix(b"W/")
            return any(tag.strip().removeprefix(b"W/") == wanted or tag.strip() == b"*" for tag in value.split(b","))
    return False

"""HTTP plumbing shared by every domain: problem+json rendering of every error, request ids and
per-route metrics, the before-request checks (bearer token, strict JSON bodies, canonical
integers in paths and query strings), ``OPTIONS`` answers and a lean response for pre-encoded
JSON."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from io import BytesIO
from typing import Any

import msgspec
import structlog
from litestar import Litestar, MediaType, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import CompressionEncoding, ScopeType
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.middleware.compression.facade import CompressionFacade
from litestar.middleware.compression.gzip_facade import GzipCompression
from litestar.response.base import ASGIResponse
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from ticketing.container import services
from ticketing.edge.headers import security_headers
from ticketing.edge.metrics import record_request
from ticketing.edge.params import CANONICAL
from ticketing.kernel import deadline
from ticketing.kernel.errors import (
    AppError,
    Forbidden,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationError,
)
from ticketing.kernel.ids import canonical_positive_int
from ticketing.kernel.redis import is_redis_failure, redis_unavailable
from ticketing.kernel.security import Principal, read_access_token

log = structlog.get_logger("ticketing.http")

PROBLEM_JSON = "application/problem+json"
_TITLES_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "The request is not valid"),
    401: ("UNAUTHENTICATED", "Authentication required"),
    403: ("FORBIDDEN", "Not allowed"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    413: ("PAYLOAD_TOO_LARGE", "Request body too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The body must be JSON (Content-Type: application/json)"),
    422: ("VALIDATION_ERROR", "The request is not valid"),
    429: ("RATE_LIMITED", "Too many requests"),
    503: ("SERVICE_UNAVAILABLE", "A dependency is unavailable; nothing was changed"),
}


def problem(
    status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response[bytes]:
    body: dict[str, Any] = {
        "type": f"https://errors.ticketing.example/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    body.update(extra)
    return Response(
        content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=headers or {}
    )


class FailureLog:
    """The 503s of an outage, logged at most once a second per kind (code and cause), with the
    count of those not logged since: during an outage every request fails alike, and one line
    each buried the log (5,000 lines in 27 s of reset Redis connections under `make chaos`)."""

    INTERVAL_SECONDS = 1.0

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # kind -> (last logged, not logged since)

    def failed(self, exc: AppError) -> None:
        cause = exc.__cause__
        kind = (exc.code, type(cause).__name__ if cause is not None else "")
        now = time.monotonic()
        last, unlogged = self._last.get(kind, (-math.inf, 0))
        if now - last < self.INTERVAL_SECONDS:
            self._last[kind] = (last, unlogged + 1)
            return
        self._last[kind] = (now, 0)
        log.warning("request failed", code=exc.code, detail=exc.detail, cause=repr(cause), similar_not_logged=unlogged)


_failures = FailureLog()


def app_error_handler(_: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    if exc.status >= 500:
        _failures.failed(exc)
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = 422 if exc.status_code == 400 else exc.status_code
    code, title = _TITLES_BY_STATUS.get(status, ("HTTP_ERROR", "Request failed"))
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) or status == 422:
        extra["errors"] = _validation_errors(exc.extra)
        detail = _validation_detail(exc)
    else:
        detail = exc.detail or title
    return problem(status, code, title, detail, headers=dict(exc.headers or {}), **extra)


def _validation_errors(extra: Any) -> list[dict[str, Any]]:
    if isinstance(extra, list):
        return [
            {"field": str(item.get("key", "")), "message": str(item.get("message", ""))}
            for item in extra
            if isinstance(item, dict)
        ]
    return []


def _validation_detail(exc: HTTPException) -> str:
    errors = _validation_errors(exc.extra)
    if errors:
        return "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return exc.detail or "The request is not valid"


def unexpected_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if is_redis_failure(exc):
        return app_error_handler(_, redis_unavailable())
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "INTERNAL_ERROR", "Internal error", "An unexpected error happened; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: app_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}


# Request ids made here: a random per-process prefix and a counter, 32 hex characters. Unique
# without a system call per request (os.urandom was one); re-drawn in every forked worker.
class _RequestIds:
    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counter = itertools.count()
        self.prefix = os.urandom(8).hex()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_request_ids = _RequestIds()
# A caller's request id is echoed in a response header and written to every log line: visible
# ASCII only (a control or non-ASCII byte is no valid header value, and forges log lines).
_REQUEST_ID_FORMAT = re.compile(rb"[\x21-\x7e]+")
os.register_at_fork(after_in_child=_request_ids.reset)

# structlog's own context variable for ``request_id`` (what ``bind_contextvars`` sets), set
# directly: one ``ContextVar.set`` per request instead of clearing and re-binding the context.
# Every request runs in its own task, hence its own copy of the context: nothing to clear.
_tokens = structlog.contextvars.bind_contextvars(request_id=...)
_REQUEST_ID = _tokens["request_id"].var
structlog.contextvars.reset_contextvars(**_tokens)
del _tokens


class RequestContextMiddleware:
    """Per request: takes ``X-Request-ID`` from the caller (or makes one), binds it to every log
    line and echoes it on the response with the security headers (``edge/headers.py``), starts the
    request's deadline (``kernel/deadline.py``), and records the route's count and latency for
    Prometheus.

    Wraps the whole Litestar application (``create_app`` puts it around ``app.asgi_handler``),
    not each route: Litestar wraps every route that has middleware in a second exception-handling
    layer with its own ``send`` wrapper, a cost on every request. Out here it also stamps the
    answers the router gives itself (404, 405)."""

    def __init__(self, app: ASGIApp, deadline_seconds: float = math.inf) -> None:
        self.app = app
        self.deadline_seconds = deadline_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        header = b""
        has_body = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                header = value[:64]
            elif (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
                has_body = True
        if header and _REQUEST_ID_FORMAT.fullmatch(header):
            request_id = header.decode("latin-1")
        else:
            request_id = _request_ids.next()
            header = request_id.encode()
        _REQUEST_ID.set(request_id)
        deadline.start(self.deadline_seconds)
        status = 500  # an exception that escaped every handler
        extra = ((b"x-request-id", header), *security_headers(scope["path"]))
        method = scope["method"]
        head = method == "HEAD"
        if head:  # answered as the GET of the same path, without its body
            scope = {**scope, "method": "GET"}
        body = _RequestBody(receive) if has_body else None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if not isinstance(headers, list):
                    headers = message["headers"] = [*(headers or ())]
                headers.extend(extra)
                if scope.get(_PERSONAL) and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append(_NO_STORE)
                if body is not None and not body.complete and status >= 400:
                    # Answered before the body was read (413, or a check that came first): the
                    # client is told the connection ends, and the rest is drained (below).
                    headers.append(_CONNECTION_CLOSE)
            elif head and message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, body.receive if body is not None else receive, send_with_id)
        finally:
            if body is not None and not body.complete:
                await body.drain()
            path = scope.get("path_template")
            if path is not None and path != "/metrics":
                record_request(method, path, status, time.perf_counter() - started)


_CONNECTION_CLOSE = (b"connection", b"close")
# The most of an unread body read and thrown away after an early answer, so that the client,
# still sending, reads that answer instead of a reset connection (closing a socket with unread
# data sends RST, which discards the answer in flight: a 413 to a 2 MB body was "a dropped
# connection" under load). Beyond it the connection is closed as it is.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


class BodyIncomplete(ValidationError):
    """The body ended before its announced end: a malformed chunk, a client that stopped sending
    (disconnected, or silent until the request's deadline)."""


class _RequestBody:
    """``receive`` of a request that carries a body. A body cut short (the server reports a
    disconnect before its last part: granian does so for a malformed chunk or a closed socket)
    or not finished by the request's deadline is a 422 ``BodyIncomplete``, not the framework's
    500; ``drain`` reads and discards what an early answer left unread."""

    __slots__ = ("_receive", "complete")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.complete = False

    async def receive(self) -> ReceiveMessage:
        if self.complete:
            return await self._receive()
        try:
            async with asyncio.timeout(max(deadline.remaining(), 0.0)):
                message = await self._receive()
        except TimeoutError:
            raise BodyIncomplete("The request body did not arrive in time") from None
        if message["type"] == "http.request":
            self.complete = not message.get("more_body", False)
            return message
        self.complete = True  # a disconnect: nothing more will come
        raise BodyIncomplete("The request body was cut short or malformed")

    async def drain(self) -> None:
        read = 0
        try:
            async with asyncio.timeout(DRAIN_MAX_SECONDS):
                while not self.complete and read <= DRAIN_MAX_BYTES:
                    message = await self._receive()
                    if message["type"] != "http.request":
                        return
                    read += len(message.get("body", b""))
                    self.complete = not message.get("more_body", False)
        except TimeoutError:
            return


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, read from the raw ASGI headers (names
    arrive lower-cased) without building Litestar's header mapping."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return None
            return token.strip() or None
    return None


# The caller, for handlers behind ``user_checks`` / ``admin_checks``: ``request.user`` is the
# verified Principal, put in the scope by the check rather than injected as a dependency.
AuthedRequest = Request[Principal, Any, State]
# Any request, for public handlers (they take it to reach their service; see below).
AppRequest = Request[Any, Any, State]

# Services reach handlers without Litestar's dependency injection: a handler takes ``request``
# and calls the wiring's typed accessor, ``services(request).wallets`` (``ticketing.container``;
# built once per process in the lifespan).
# A ``Provide`` dependency is resolved on every request: a resolution batch, a cleanup group
# entered on an exit stack, and the provided object validated against its annotation with the
# rest of the handler's parameters (two dependencies even start an anyio task group).


def _authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    token = _bearer(connection.scope["headers"])
    principal = read_access_token(token, secret=connection.app.state.settings.jwt_secret) if token else None
    if principal is None:
        raise Unauthenticated("A valid bearer access token is required")
    connection.scope["user"] = principal
    return principal


# --- Before-request hooks: what every request is checked for before Litestar parses it -------
#
# Litestar calls a layer's ``before_request`` hook after routing and before it parses and
# validates the path, query, header and body parameters (422), so a check made here comes first.
# The hook of the closest layer replaces the others (they do not chain): the app has
# ``strict_body``; a controller or handler that needs a signed-in caller sets
# ``before_request = user_checks`` (or ``admin_checks``), which authenticate and then run
# ``strict_body`` too. That is the documented order: bearer 401, then validation 422.
#
# Not Litestar guards: before every guard call Litestar makes a shallow copy of the route handler
# (``copy(self)``, some 60 attributes), a cost on every request of every guarded route.


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Read what the client wrote strictly, before Litestar's lenient conversion.

    - Integers in the path or query string (ids, ``limit``) must be canonical decimal: Litestar
      reads "1.0" and "1e0" as 1 (``edge/params.py``).
    - A JSON body is decoded with msgspec's strict rules ("100" and true are not integers).
      Litestar converts request data leniently (it must coerce query strings); money and ids
      must not be coerced. Only JSON is taken (415 for another or a missing content type:
      Litestar would parse ``text/plain`` as JSON), and no object may repeat a key (422).

    A handler with neither costs one dictionary look-up.
    """
    handler = request.scope["route_handler"]
    checks = handler.opt.get(_CHECKS, _UNSEEN)
    if checks is _UNSEEN:  # the first request of this handler: remember what it needs checked, or None
        checks = handler.opt[_CHECKS] = _request_checks(handler, path_params=request.scope["path_params"])
    if checks is None:
        return
    decoder, integers = checks
    if integers:
        _check_canonical_integers(request, integers)
    if decoder is None:
        return
    body = await request.body()
    if not _is_json(_content_type(request.scope["headers"]), body):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json")
    try:
        decoder.decode(body)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        field_name = where.rstrip("`").removeprefix("$.").removeprefix("$")
        raise ValidationError(
            f"{field_name}: {message}" if field_name else message,
            errors=[{"field": field_name, "message": message}],
        ) from error
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # msgspec raises the latter for invalid UTF-8
        raise ValidationError("The body is not valid JSON", errors=[{"field": "", "message": str(error)}]) from error
    # msgspec (like most parsers) lets the last of two equal keys win: {"amount":1,"amount":5}
    # charged 5 while a proxy or log that reads the first saw 1. A second parse that sees every
    # pair, only of bodies msgspec accepted (small: the limit is TICKETING_MAX_BODY_BYTES).
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKey as error:
        raise ValidationError(
            f"{error.key}: appears more than once in an object", errors=[{"field": error.key, "message": str(error)}]
        ) from None


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"content-type":
            return value
    return None


def _is_json(content_type: bytes | None, body: bytes) -> bool:
    """``application/json`` or ``application/*+json`` (parameters such as charset aside); an empty
    body without a type is left to the decoder (a 422 saying the body is missing)."""
    if content_type is None:
        return not body
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__("appears more than once in an object")
        self.key = key


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


_CHECKS = "ticketing.strict_request_checks"  # kept in the handler's own ``opt`` mapping
_UNSEEN: Any = object()

# Where each canonical integer of a handler is read: ("path", name) or ("query", key).
_IntegerSources = tuple[tuple[str, str], ...]


def _request_checks(
    handler: BaseRouteHandler, path_params: dict[str, Any]
) -> tuple[msgspec.json.Decoder[Any] | None, _IntegerSources] | None:
    if not isinstance(handler, HTTPRouteHandler):
        return None
    decoder = _body_decoder(handler)
    integers = _canonical_integer_sources(handler, path_params)
    return (decoder, integers) if decoder is not None or integers else None


def _body_decoder(handler: HTTPRouteHandler) -> msgspec.json.Decoder[Any] | None:
    field = handler.parsed_data_field
    target = field.annotation if field is not None else None
    if not (isinstance(target, type) and issubclass(target, msgspec.Struct)):
        return None
    return msgspec.json.Decoder(target)


def _canonical_integer_sources(handler: HTTPRouteHandler, path_params: dict[str, Any]) -> _IntegerSources:
    """The marked parameters of ``handler``: a path parameter (every request of a handler has
    the same path parameters) or else a query parameter (its ``query=`` key or its own name)."""
    sources: list[tuple[str, str]] = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        if CANONICAL not in field.metadata:
            continue
        if name in path_params:
            sources.append(("path", name))
        else:
            sources.append(("query", getattr(field.kwarg_definition, "query", None) or name))
    return tuple(sources)


def _check_canonical_integers(request: Request[Any, Any, Any], sources: _IntegerSources) -> None:
    for where, name in sources:
        texts = [request.scope["path_params"][name]] if where == "path" else request.query_params.getall(name, [])
        for text in texts:
            if not isinstance(text, str) or canonical_positive_int(text) is None:
                message = "must be a positive integer in canonical decimal form (digits only, no sign or leading zero)"
                raise ValidationError(f"{name}: {message}", errors=[{"field": name, "message": message}])


async def user_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: a verified bearer token (401), then a strict body (422)."""
    _authenticate(request)
    await strict_body(request)


# Set in the scope by every check of an account (``account_checks``, ``door_checks``,
# ``admin_checks``): the answer is the caller's own (or an operator's) and no cache, shared or
# the browser's, may keep it; ``RequestContextMiddleware`` adds ``Cache-Control: no-store``.
_PERSONAL = "ticketing.personal"
_NO_STORE = (b"cache-control", b"no-store")


def answer_is_personal(request: Request[Any, Any, Any]) -> None:
    """Mark the answer ``Cache-Control: no-store`` (what every account check does)."""
    request.scope[_PERSONAL] = True  # type: ignore[literal-required]


async def current_account(request: Request[Any, Any, Any]) -> Principal:
    """The bearer checked against its account (``UserService.current``, one primary-key read
    shared by every check waiting at that moment): 401 once revoked by a sign-out or a password
    change; the role is the account's, not the token's."""
    answer_is_personal(request)
    principal = await services(request).users.current(_authenticate(request))
    request.scope["user"] = principal
    return principal


async def account_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook of every endpoint that shows or changes the caller's own data (profile,
    wallet and ledger, reservations, payments, tickets and their QR codes, queue join, sign-out,
    password change): a verified bearer token that has not been revoked (401), then a strict body
    (422); the answer carries ``Cache-Control: no-store``. Only the hot public reads of a sale
    (dates, seat maps) keep ``user_checks``: no database read, a revoked token reads them until
    it expires."""
    await current_account(request)
    await strict_body(request)


async def admin_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: a bearer token not revoked, of an account that is an operator now
    (401, 403), then a strict body."""
    if not (await current_account(request)).is_admin:
        raise Forbidden("This needs an operator account")
    await strict_body(request)


async def door_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook of the door (check-in and a date's door count): a bearer token not
    revoked, of an account that is an operator or door staff now (401, 403), then a strict body."""
    if not (await current_account(request)).at_the_door:
        raise Forbidden("This needs a door staff or operator account")
    await strict_body(request)


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
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))],
            }
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


__all__ = [
    "COMPRESSED",
    "COMPRESSED_BODIES",
    "EXCEPTION_HANDLERS",
    "AppRequest",
    "AuthedRequest",
    "CachedJson",
    "JsonBytes",
    "MediaType",
    "RequestContextMiddleware",
    "account_checks",
    "admin_checks",
    "answer_options_with_every_method",
    "door_checks",
    "problem",
    "strict_body",
    "user_checks",
]


# Litestar's compression (brotli, else gzip) as route middleware, on the handlers whose answers
# can be large and change with every read (a seat list; the answers with an ETag are compressed
# once per body by ``CachedJson``, with this same config), and only from
# COMPRESS_MIN_BYTES (a 50-seat list stays as it was): every other route, the small hot reads
# (queue poll, dates), never runs it.
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
COMPRESSED = DefineMiddleware(CompressionMiddleware, config=COMPRESSION)


class CachedJson(JsonBytes):
    """Encoded JSON with its ``ETag``: a request whose ``If-None-Match`` names it is answered 304
    without the body (RFC 9110 section 13.1.2: a weak comparison, ``W/`` prefixes aside).

    Compressed here rather than by ``COMPRESSED`` (so not on those routes), with Litestar's own
    compressors and the same ``COMPRESSION`` config and negotiation, but **once per body**: the
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
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        body = self.body
        encoding = _accepted_encoding(scope) if len(body) >= COMPRESSION.minimum_size else None
        if encoding is not None:
            body = COMPRESSED_BODIES.get(self.etag, encoding, body)
            headers.append((b"content-encoding", encoding.encode()))
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


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

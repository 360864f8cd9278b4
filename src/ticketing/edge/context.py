"""The request context, around the whole application: request ids (taken from the caller or made
here) bound to every log line, the security headers, the request's deadline, per-route metrics,
``HEAD`` answered as ``GET``, ``Cache-Control: no-store`` on personal answers, and a request body
that cannot hang or be cut short unnoticed."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import re
import time
from typing import Any

import structlog
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from ticketing.edge.headers import security_headers
from ticketing.edge.metrics import record_request
from ticketing.kernel import deadline
from ticketing.kernel.errors import ValidationError


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


# Set in the scope by every check of an account (``account_checks``, ``door_checks``,
# ``admin_checks``): the answer is the caller's own (or an operator's) and no cache, shared or
# the browser's, may keep it; ``RequestContextMiddleware`` adds ``Cache-Control: no-store``.
_PERSONAL = "ticketing.personal"
_NO_STORE = (b"cache-control", b"no-store")


def answer_is_personal(request: Request[Any, Any, Any]) -> None:
    """Mark the answer ``Cache-Control: no-store`` (what every account check does)."""
    request.scope[_PERSONAL] = True  # type: ignore[literal-required]

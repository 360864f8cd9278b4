"""HTTP plumbing shared by every domain: problem+json rendering of every error, request ids,
and the bearer-token dependency."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders, State
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from ticketing.core.errors import AppError, Forbidden, ServiceUnavailable, Unauthenticated, ValidationError
from ticketing.core.metrics import record_request
from ticketing.core.redis import REDIS_FAILURES
from ticketing.core.security import Principal, read_access_token

log = structlog.get_logger("ticketing.http")

PROBLEM_JSON = "application/problem+json"
_TITLES_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "The request is not valid"),
    401: ("UNAUTHENTICATED", "Authentication required"),
    403: ("FORBIDDEN", "Not allowed"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    413: ("PAYLOAD_TOO_LARGE", "Request body too large"),
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


def app_error_handler(_: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    if exc.status >= 500:
        log.warning("request failed", code=exc.code, detail=exc.detail, cause=repr(exc.__cause__))
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
    if isinstance(exc, REDIS_FAILURES):
        return app_error_handler(_, ServiceUnavailable("The queue store is unavailable; nothing was changed"))
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "INTERNAL_ERROR", "Internal error", "An unexpected error happened; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: app_error_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}


class RequestContextMiddleware:
    """Per request: takes ``X-Request-ID`` from the caller (or makes one), binds it to every log
    line and echoes it on the response, and records the route's count and latency for
    Prometheus. One layer for both: each ASGI layer with its own ``send`` wrapper costs every
    request a few microseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
        if not request_id:
            request_id = os.urandom(16).hex()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500  # an exception that escaped every handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path_template", "")
            if path != "/metrics":
                record_request(scope["method"], path, status, time.perf_counter() - started)


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


_strict_decoders: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: decode JSON bodies strictly ("100" and true are not integers).

    Litestar converts request data leniently (it must coerce query strings); money and ids must
    not be coerced, so every body is first decoded with msgspec's strict rules. Guards have run
    by now, so the documented order holds: bearer 401, then validation 422.
    """
    field = request.route_handler.parsed_data_field
    target = field.annotation if field is not None else None
    if not (isinstance(target, type) and issubclass(target, msgspec.Struct)):
        return
    decoder = _strict_decoders.get(target)
    if decoder is None:
        decoder = _strict_decoders[target] = msgspec.json.Decoder(target)
    try:
        decoder.decode(await request.body())
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        field_name = where.rstrip("`").removeprefix("$.").removeprefix("$")
        raise ValidationError(
            f"{field_name}: {message}" if field_name else message,
            errors=[{"field": field_name, "message": message}],
        ) from error
    except msgspec.DecodeError as error:
        raise ValidationError("The body is not valid JSON", errors=[{"field": "", "message": str(error)}]) from error


# The caller, for handlers behind ``require_user``: ``request.user`` is the verified Principal.
# Read from the scope rather than injected as a dependency: with two dependencies (the caller
# and a service) Litestar resolves them in an anyio task group, two tasks per request.
AuthedRequest = Request[Principal, Any, State]


async def require_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a verified bearer token. Guards run before the request is validated, which gives
    the documented order of checks: bearer (401) before validation (422). Async on purpose:
    Litestar runs a sync guard in a thread pool, a thread hop on every request."""
    token = bearer_token(connection)
    principal = read_access_token(token, secret=connection.app.state.settings.jwt_secret) if token else None
    if principal is None:
        raise Unauthenticated("A valid bearer access token is required")
    connection.scope["user"] = principal


async def require_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    await require_user(connection, handler)
    if not connection.user.is_admin:
        raise Forbidden("This needs an operator account")


def configure_logging(level: str, json_logs: bool) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping().get(level.upper(), 20)),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


__all__ = [
    "EXCEPTION_HANDLERS",
    "AuthedRequest",
    "MediaType",
    "RequestContextMiddleware",
    "configure_logging",
    "problem",
    "require_admin",
    "require_user",
    "strict_body",
]

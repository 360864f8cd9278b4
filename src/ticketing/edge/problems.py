"""Problem+json (RFC 9457) rendering of every error: ``problem()``, the application's exception
handlers, and the log of the 503s of an outage (``FailureLog``)."""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from ticketing.edge.responses import ProblemBytes
from ticketing.kernel.errors import AppError
from ticketing.kernel.redis import is_redis_failure, redis_unavailable

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
    body = _problem_body(status, code, title, detail, extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers or {})


def _problem_body(status: int, code: str, title: str, detail: str, extra: dict[str, Any]) -> bytes:
    body: dict[str, Any] = {
        "type": f"https://errors.ticketing.example/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    body.update(extra)
    return msgspec.json.encode(body)


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


def problem_answer(exc: AppError) -> ProblemBytes:
    """The answer ``app_error_handler`` renders for ``exc``, as an ASGI response a handler can
    return: the same bytes and headers, without the exception middleware's unwinding and
    conversion (the hold race's losers, most of its answers)."""
    if exc.status >= 500:
        _failures.failed(exc)
    body = _problem_body(exc.status, exc.code, exc.title, exc.detail, exc.extra)
    return ProblemBytes(body, exc.status, exc.headers or {})


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

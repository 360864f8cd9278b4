"""Typed application errors. Each carries its HTTP status and a stable machine-readable code;
one exception handler (``edge.problems``) renders them as problem+json."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal error"
    detail: str

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)


class ValidationError(AppError):
    status = 422
    code = "VALIDATION_ERROR"
    title = "The request is not valid"


class Unauthenticated(AppError):
    status = 401
    code = "UNAUTHENTICATED"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    code = "FORBIDDEN"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class MethodNotAllowed(AppError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    title = "Method not allowed"


class Conflict(AppError):
    status = 409
    code = "CONFLICT"
    title = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Request body too large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "The body must be JSON (Content-Type: application/json)"


class ChallengeRequired(AppError):
    """The proof-of-work gate (``kernel/challenge.py``): the problem carries a fresh ``challenge``;
    solve it and send the request again with the solution in ``X-Altcha``."""

    status = 428
    code = "CHALLENGE_REQUIRED"
    title = "Solve the proof-of-work challenge and send the request again"


class RateLimited(AppError):
    status = 429
    code = "RATE_LIMITED"
    title = "Too many requests"


class AddressRateLimited(RateLimited):
    """A limit of the client's address, not of an account: the password endpoints hold that
    address's early retries (``kernel/ratelimit.py``, ``paced``)."""


class ServiceUnavailable(AppError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "A dependency is unavailable; nothing was changed"


class IdempotencyKeyReused(AppError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "This Idempotency-Key was used for a different request"


class IdempotencyKeyInUse(AppError):
    status = 409
    code = "IDEMPOTENCY_KEY_IN_USE"
    title = "A request with this Idempotency-Key is still running"

"""Logging: one configuration for every process that runs the services (``ticketing serve``'s
workers, ``ticketing worker``, the operator commands), from the log settings.

structlog renders every event (JSON with ``TICKETING_LOG_JSON``, else plain lines) and the
standard library's loggers (asyncpg, granian, alembic) write plain lines. Tracebacks are Python's
plain ones: never structlog's default rich rendering, which prints every frame's local variables
(a connection's DSN among them: a worker left unconfigured printed the DATABASE_URL password 11
times in 8 s while PostgreSQL was down). And whatever a message or a traceback carries, the
configured secrets (the passwords in DATABASE_URL and REDIS_URL, the signing secret, the admin
password, the metrics token) are replaced by ``***`` before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from ticketing.config import Settings

REDACTED = "***"
_SHORTEST_SECRET = 4  # shorter values would blank out ordinary words


class Redactor:
    """Replaces the known secrets in text; the longest first (one may contain another)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def event(self, _: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """A structlog processor: after ``format_exc_info``, so the traceback is text by then."""
        for key, value in event_dict.items():
            if isinstance(value, str):
                event_dict[key] = self(value)
            elif value is not None and not isinstance(value, int | float | bool):
                event_dict[key] = self(str(value))
        return event_dict


class _RedactingFilter(logging.Filter):
    """The same for the standard library's records: message and traceback rendered, then scrubbed."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure_logging(settings: Settings) -> None:
    redact = Redactor(settings.secret_values())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # plain tracebacks, no local variables
        redact.event,
        structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    level = settings.log_level.upper()
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping().get(level, 20)),
        # Not cached: nothing logs on the hot path (a request logs only when it fails), and a
        # cached logger would slip past structlog.testing.capture_logs in the tests.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
            handler.addFilter(_RedactingFilter(redact))
    logging.getLogger("httpx").setLevel(logging.WARNING)

"""kernel/logs.py: whatever a message or a traceback carries, the configured secrets are blanked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog

from ticketing.config import Settings
from ticketing.kernel.logs import REDACTED, configure_logging

DB_PASSWORD = "db-p@ss/word"  # noqa: S105 - written percent-encoded in the URL, as operators must
REDIS_PASSWORD = "redis-secret-123"  # noqa: S105


def test_secrets_in_messages_and_tracebacks_are_blanked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        env="local",
        data_dir=tmp_path,
        database_url="postgresql://ticketing:db-p%40ss%2Fword@db.internal:5432/ticketing",
        redis_url=f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
        jwt_secret="j" * 40,
        log_json=True,
    )
    configure_logging(settings)
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        try:
            raise ConnectionError(f"could not connect with {settings.database_url} ({DB_PASSWORD}, {REDIS_PASSWORD})")
        except ConnectionError as error:
            structlog.get_logger("test").error("job failed", exc_info=error, dsn=settings.database_url)
            logging.getLogger("test.stdlib").exception("stdlib failed: %s", settings.jwt_secret)
        out, err = capsys.readouterr()
        logged = out + err
        assert "job failed" in logged and "Traceback" in logged and "ConnectionError" in logged
        for secret in (DB_PASSWORD, "db-p%40ss%2Fword", REDIS_PASSWORD, settings.jwt_secret):
            assert secret not in logged
        assert REDACTED in logged
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)

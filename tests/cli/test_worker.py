"""``ticketing worker`` logs like the server, and no secret reaches its logs.

In a multi-node run the worker, with PostgreSQL down, printed tracebacks with every local
variable (structlog's default renderer, with rich installed) and so the DATABASE_URL password,
11 times in 8 s. Here the worker runs as operators run it, against a PostgreSQL that is not
there, and its whole output is searched for the password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ticketing.config import Settings
from ticketing.devservers.embedded import free_port

PASSWORD = "Sup3r-s3cret-pw-0f-the-db"  # noqa: S105 - what must never be logged


def test_the_worker_logs_a_database_outage_without_the_password(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETING_")}
    env |= {
        "DATABASE_URL": f"postgresql://ticketing:{PASSWORD}@127.0.0.1:{free_port()}/ticketing",
        "REDIS_URL": settings.redis_url or "",
        "TICKETING_DATA_DIR": str(tmp_path),
        "TICKETING_JWT_SECRET": settings.jwt_secret,
        "TICKETING_LOG_JSON": "true",  # the log settings are read: one JSON object per line
        "TICKETING_DB_POOL_TIMEOUT_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",  # what a terminal or a journal shows, even if the process is killed
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "ticketing.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(worker.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        # The hold sweeper fails at its first run (jittered over its 1 s interval).
        while time.monotonic() < deadline and not any("expire-lapsed-holds" in line for line in lines):
            time.sleep(0.1)
        time.sleep(1)  # its traceback, and a few more runs that must not log again
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        reader.join(10)
    output = "".join(lines)
    assert worker.returncode == 0, output  # SIGTERM is a clean stop, not a traceback
    assert '"job": "expire-lapsed-holds"' in output, output  # the failure was logged, as JSON
    assert '"event": "background job failing' in output
    assert "Traceback" in output  # with its traceback...
    assert PASSWORD not in output  # ...and nowhere the password

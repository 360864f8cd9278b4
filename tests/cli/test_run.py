"""``ticketing run`` (what ``make run`` calls) stops everything it started, whichever signal asks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from ticketing.devservers.embedded import free_port


def processes_using(folder: Path) -> list[str]:
    """Processes whose command line names the folder: the embedded servers keep their data there."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(f"{proc.pid}: {cmdline}")
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_stops_the_server_and_the_embedded_servers(tmp_path: Path, signum: signal.Signals) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "TICKETING_ENV": "local",  # as make run sets it
        "TICKETING_DATA_DIR": str(tmp_path / "data"),
        "TICKETING_PORT": str(port),
        "TICKETING_WORKERS": "1",
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ticketing.cli", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and launcher.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"never served: {launcher.communicate(timeout=30)[0].decode()[-3000:]}")
        assert processes_using(tmp_path / "data"), "the embedded servers run from the data folder"
        launcher.send_signal(signum)
        output = launcher.communicate(timeout=60)[0].decode()
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    time.sleep(0.5)  # a stopped server's children may take a moment to be reaped
    assert processes_using(tmp_path / "data") == []

"""The service under test, production-style: ``ticketing serve`` (granian, one worker per core)
as a subprocess, restarted with other settings between phases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ticketing.devservers.embedded import free_port

HOST = "127.0.0.1"

# The harnesses (the bench, the browser tests) drive thousands of fans from 127.0.0.1: every rate
# limit is raised far above what they send, but still checked, so its cost stays in the figures.
# The sign-in flood phase (runner.py) passes the production sign-in limits back.
_UNLIMITED = "1000000/second"
HARNESS_LIMITS: dict[str, object] = {
    **{
        f"rate_limit_{action}_per_{who}": _UNLIMITED
        for action in ("sign_in", "sign_up", "queue_join", "hold")
        for who in ("account", "address")
    },
    "rate_limit_sign_in_failures": _UNLIMITED,
    # The charge workload charges one wallet as fast as the client can send (per account only).
    "rate_limit_charge_per_account": _UNLIMITED,
    "password_hash_per_address": 1_000_000,  # password checks of one address at once
    # The proof-of-work gate is off for the harnesses (they are not browsers); the bench turns it
    # on where it measures it (token issue, the sign-in flood) and the gate's own tests prove it.
    "challenge_enabled": False,
}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(session: int) -> float:
    """User plus system CPU time of every live process of a session (a served process and the
    workers it forked), from ``/proc/<pid>/stat``: a figure that other load on the machine hardly
    moves, unlike wall-clock rates. Read before and after a workload, the difference is what the
    server spent on it (a process that exits in between takes its share with it)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                text = stat.read()
        except OSError:  # the process exited meanwhile
            continue
        fields = text[text.rindex(b")") + 2 :].split()  # after "pid (comm) ": state is field 0
        if int(fields[3]) == session:  # field 3: session id
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


class ServedProcess:
    """A server of the bench in its own process group on a free port: started (and restarted)
    with a command line and environment, ready once ``ready_path`` answers 200, stopped with
    SIGINT (then SIGKILL). Its output goes to ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, log_dir: Path, ready_path: str) -> None:
        self.name = name
        self.log_dir = log_dir
        self.ready_path = ready_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.stop()
        log_file = self.log_dir / f"{self.name}.log"
        log = log_file.open("ab")
        self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
        probe = f"GET {self.ready_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} exited; see {log_file}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    sock.sendall(probe)
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the {self.name} did not become ready")

    def cpu_seconds(self) -> float:
        """The CPU time the server's processes have used so far (0 when it is not running): its
        own session, since it starts in one of its own."""
        return session_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None


class ServiceUnderTest(ServedProcess):
    def __init__(self, database_url: str, redis_url: str, data_dir: Path) -> None:
        super().__init__("server", data_dir, "/readyz")
        self.database_url = database_url
        self.redis_url = redis_url
        self.data_dir = data_dir

    def start(self, **settings: object) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "TICKETING_ENV": "local",
            "TICKETING_DATA_DIR": str(self.data_dir),  # the same signing secret as the harness
            "TICKETING_PORT": str(self.port),
            "TICKETING_HOST": HOST,
            "TICKETING_BENCH_ENDPOINTS": "true",
            "TICKETING_LOG_LEVEL": "WARNING",
            "TICKETING_MAX_HOLDS_PER_ADDRESS": "0",  # every simulated fan comes from loopback
        }
        merged = {**HARNESS_LIMITS, **settings}
        env.update({f"TICKETING_{key.upper()}": str(value) for key, value in merged.items()})
        self.launch([sys.executable, "-m", "ticketing.cli", "serve"], env)

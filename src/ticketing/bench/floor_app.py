"""The floor ``F_http`` of ``make bench``: a bare Litestar app (one handler answering a constant
small JSON object; no middleware, no dependency injection, none of our exception handlers, no
lifespan) served by granian exactly as ``ticketing serve`` serves the service — the same worker
count, interface and loop. Every read-path target is a ratio to what this answers in the same run.

``python -m ticketing.bench.floor_app --port N`` serves it; :class:`FloorServer` starts it as a
subprocess on a free port and waits until it answers."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from litestar import Litestar, get

from ticketing.core.embedded import free_port

HOST = "127.0.0.1"
PATH = "/"


@get(PATH)
async def floor() -> dict[str, str]:
    return {"status": "ok"}


def app_factory() -> Litestar:
    """The bare app: what any Litestar endpoint costs before it does anything of its own."""
    return Litestar(route_handlers=[floor], openapi_config=None)


def serve(host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    # The options of ``ticketing serve`` (cli.py), less what only the service needs (its factory,
    # the multiprocess metrics folder).
    Granian(
        "ticketing.bench.floor_app:app_factory",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        backlog=2048,
        log_access=False,
        respawn_failed_workers=True,
    ).serve()


def default_workers() -> int:
    """What ``ticketing serve`` uses when TICKETING_WORKERS is unset: one worker per core."""
    return int(os.environ.get("TICKETING_WORKERS") or 0) or os.cpu_count() or 1


class FloorServer:
    """The bare app in a subprocess on a free port, like ``bench/server.py`` for the service."""

    def __init__(self, log_dir: Path, workers: int | None = None) -> None:
        self.log_dir = log_dir
        self.workers = workers or default_workers()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.stop()
        log = (self.log_dir / "floor.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ticketing.bench.floor_app",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the floor app exited; see {self.log_dir / 'floor.log'}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the floor app did not become ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()

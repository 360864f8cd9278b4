"""The floor ``F_http`` of ``make bench``: a bare Litestar app (one handler answering a constant
small JSON object; no middleware, no dependency injection, none of our exception handlers, no
lifespan) served by granian exactly as ``ticketing serve`` serves the service — the same worker
count, interface and loop. Every read-path target is a ratio to what this answers in the same run.

``python -m bench.floor_app --port N`` serves it; :class:`FloorServer` starts it as a
subprocess on a free port and waits until it answers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from litestar import Litestar, get

from bench.server import HOST, ServedProcess
from ticketing.devservers import serving

PATH = "/"


@get(PATH)
async def floor() -> dict[str, str]:
    return {"status": "ok"}


def app_factory() -> Litestar:
    """The bare app: what any Litestar endpoint costs before it does anything of its own."""
    return Litestar(route_handlers=[floor], openapi_config=None)


def default_workers() -> int:
    """What ``ticketing serve`` uses: TICKETING_WORKERS, or one worker per core."""
    return serving.default_workers(int(os.environ.get("TICKETING_WORKERS") or 0))


class FloorServer(ServedProcess):
    """The bare app in a subprocess on a free port, like ``bench/server.py`` for the service."""

    def __init__(self, log_dir: Path, workers: int | None = None) -> None:
        super().__init__("floor", log_dir, PATH)
        self.workers = workers or default_workers()

    def start(self) -> None:
        argv = [sys.executable, "-m", "bench.floor_app", "--port", str(self.port)]
        self.launch([*argv, "--workers", str(self.workers)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args(argv)
    serving.serve_asgi("bench.floor_app:app_factory", args.host, args.port, args.workers)


if __name__ == "__main__":
    main()

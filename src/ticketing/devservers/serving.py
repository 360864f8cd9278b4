"""How an ASGI app of ours is served: granian, one worker per core unless told otherwise. One
place, so that ``ticketing serve`` and the bench's bare-framework floor (``bench/floor_app.py``)
are served exactly alike and their ratio measures our code, not a server option."""

from __future__ import annotations

import os


def default_workers(configured: int = 0) -> int:
    """``configured`` workers, or one per core when it is 0 (``TICKETING_WORKERS`` unset)."""
    return configured or os.cpu_count() or 1


# How long a connection may take to send a request's headers, counted from the end of the
# previous answer on a kept-alive connection too: an idle keep-alive connection is closed after it
# (hyper's header read timeout, the one granian exposes). A connection that never sends a byte is
# not covered by any granian setting: a reverse proxy in front must bound those.
DEFAULT_IDLE_TIMEOUT_SECONDS = 15.0


def serve_asgi(
    factory: str, host: str, port: int, workers: int, idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
) -> None:
    """Serve ``factory`` ("module:function" returning the app) until interrupted."""
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings

    Granian(
        factory,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        backlog=2048,
        http1_settings=HTTP1Settings(header_read_timeout=max(1, round(idle_timeout_seconds * 1000))),
        log_access=False,
        respawn_failed_workers=True,
    ).serve()

"""How an ASGI app of ours is served: granian, one worker per core unless told otherwise. One
place, so that ``ticketing serve`` and the bench's bare-framework floor (``bench/floor_app.py``)
are served exactly alike and their ratio measures our code, not a server option."""

from __future__ import annotations

import os


def default_workers(configured: int = 0) -> int:
    """``configured`` workers, or one per core when it is 0 (``TICKETING_WORKERS`` unset)."""
    return configured or os.cpu_count() or 1


def serve_asgi(factory: str, host: str, port: int, workers: int) -> None:
    """Serve ``factory`` ("module:function" returning the app) until interrupted."""
    from granian import Granian
    from granian.constants import Interfaces, Loops

    Granian(
        factory,
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

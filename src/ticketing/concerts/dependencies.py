from typing import Any

from litestar.connection import ASGIConnection

from ticketing.concerts.service import ConcertService


def concert_service(connection: ASGIConnection[Any, Any, Any, Any]) -> ConcertService:
    """The process's ConcertService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.concerts  # type: ignore[no-any-return]

from typing import Any

from litestar.connection import ASGIConnection

from ticketing.venues.service import VenueService


def venue_service(connection: ASGIConnection[Any, Any, Any, Any]) -> VenueService:
    """The process's VenueService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.venues  # type: ignore[no-any-return]

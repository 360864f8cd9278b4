from typing import Any

from litestar.connection import ASGIConnection

from ticketing.reservations.service import ReservationService


def reservation_service(connection: ASGIConnection[Any, Any, Any, Any]) -> ReservationService:
    """The process's ReservationService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.reservations  # type: ignore[no-any-return]

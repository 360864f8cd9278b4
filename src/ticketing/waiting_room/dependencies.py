from typing import Any

from litestar.connection import ASGIConnection

from ticketing.waiting_room.service import WaitingRoomService


def waiting_room_service(connection: ASGIConnection[Any, Any, Any, Any]) -> WaitingRoomService:
    """The process's WaitingRoomService (built once in the lifespan), read from the app state by
    the handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.waiting_room  # type: ignore[no-any-return]

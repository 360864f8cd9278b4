from typing import Any

from litestar.connection import ASGIConnection

from ticketing.tickets.service import TicketService


def ticket_service(connection: ASGIConnection[Any, Any, Any, Any]) -> TicketService:
    """The process's TicketService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.tickets  # type: ignore[no-any-return]

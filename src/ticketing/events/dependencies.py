from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from ticketing.events.service import EventService


def event_service(connection: ASGIConnection[Any, Any, Any, Any]) -> EventService:
    """The process's EventService (built once in the lifespan): see ``ticketing.core.http``."""
    return connection.app.state.services.events  # type: ignore[no-any-return]

from typing import Any

from litestar.connection import ASGIConnection

from ticketing.schedules.service import ScheduleService


def schedule_service(connection: ASGIConnection[Any, Any, Any, Any]) -> ScheduleService:
    """The process's ScheduleService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.schedules  # type: ignore[no-any-return]

from typing import Any

from litestar.connection import ASGIConnection

from ticketing.admin.service import AdminService


def admin_service(connection: ASGIConnection[Any, Any, Any, Any]) -> AdminService:
    """The process's AdminService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.admin  # type: ignore[no-any-return]

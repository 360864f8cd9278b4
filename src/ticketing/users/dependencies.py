from typing import Any

from litestar.connection import ASGIConnection

from ticketing.users.service import UserService


def user_service(connection: ASGIConnection[Any, Any, Any, Any]) -> UserService:
    """The process's UserService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.users  # type: ignore[no-any-return]

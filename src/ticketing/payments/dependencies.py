from typing import Any

from litestar.connection import ASGIConnection

from ticketing.payments.service import PaymentService


def payment_service(connection: ASGIConnection[Any, Any, Any, Any]) -> PaymentService:
    """The process's PaymentService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.payments  # type: ignore[no-any-return]

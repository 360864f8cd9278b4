from typing import Any

from litestar.connection import ASGIConnection

from ticketing.wallets.service import WalletService


def wallet_service(connection: ASGIConnection[Any, Any, Any, Any]) -> WalletService:
    """The process's WalletService (built once in the lifespan), read from the app state by the
    handler itself rather than injected with ``Provide``: see ``ticketing.edge.http``."""
    return connection.app.state.services.wallets  # type: ignore[no-any-return]

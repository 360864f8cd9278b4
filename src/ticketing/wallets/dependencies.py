from litestar.datastructures import State

from ticketing.wallets.service import WalletService


def provide_wallet_service(state: State) -> WalletService:
    return state.services.wallets  # type: ignore[no-any-return]

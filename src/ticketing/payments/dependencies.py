from litestar.datastructures import State

from ticketing.payments.service import PaymentService


def provide_payment_service(state: State) -> PaymentService:
    return state.services.payments  # type: ignore[no-any-return]

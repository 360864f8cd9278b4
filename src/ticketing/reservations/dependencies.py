from litestar.datastructures import State

from ticketing.reservations.service import ReservationService


def provide_reservation_service(state: State) -> ReservationService:
    return state.services.reservations  # type: ignore[no-any-return]

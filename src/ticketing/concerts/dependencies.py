from litestar.datastructures import State

from ticketing.concerts.service import ConcertService


def provide_concert_service(state: State) -> ConcertService:
    return state.services.concerts  # type: ignore[no-any-return]

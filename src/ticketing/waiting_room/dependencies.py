from litestar.datastructures import State

from ticketing.waiting_room.service import WaitingRoomService


def provide_waiting_room(state: State) -> WaitingRoomService:
    return state.services.waiting_room  # type: ignore[no-any-return]

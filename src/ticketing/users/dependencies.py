from litestar.datastructures import State

from ticketing.users.service import UserService


def provide_user_service(state: State) -> UserService:
    return state.services.users  # type: ignore[no-any-return]

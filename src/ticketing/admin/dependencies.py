from litestar.datastructures import State

from ticketing.admin.service import AdminService


def provide_admin_service(state: State) -> AdminService:
    return state.services.admin  # type: ignore[no-any-return]

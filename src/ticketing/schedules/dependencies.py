from litestar.datastructures import State

from ticketing.schedules.service import ScheduleService


def provide_schedule_service(state: State) -> ScheduleService:
    return state.services.schedules  # type: ignore[no-any-return]

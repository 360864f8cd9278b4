from ticketing.kernel.errors import Conflict, NotFound, ValidationError


class ScheduleNotFound(NotFound):
    code = "SCHEDULE_NOT_FOUND"
    title = "Schedule not found"


class ScheduleNotOpen(Conflict):
    code = "SCHEDULE_NOT_OPEN"
    title = "This schedule is not open for reservation now"


class InvalidSchedule(ValidationError):
    code = "VALIDATION_ERROR"
    title = "The schedule is not valid"

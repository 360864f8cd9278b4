from ticketing.kernel.errors import Conflict, NotFound, ValidationError


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    title = "User not found"


class UserNameTaken(Conflict):
    code = "USER_NAME_TAKEN"
    title = "This name is already taken"


class InvalidDisplayName(ValidationError):
    """A display name that may not be used (``users/names.py``); the detail says why."""

    code = "INVALID_DISPLAY_NAME"
    title = "This display name may not be used"

from ticketing.kernel.errors import Conflict, NotFound


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    title = "User not found"


class UserNameTaken(Conflict):
    code = "USER_NAME_TAKEN"
    title = "This name is already taken"

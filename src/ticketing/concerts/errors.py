from ticketing.kernel.errors import NotFound


class ConcertNotFound(NotFound):
    code = "CONCERT_NOT_FOUND"
    title = "Concert not found"

from ticketing.kernel.errors import Forbidden, Unauthenticated


class TokenInvalid(Unauthenticated):
    """Missing, unknown, expired or finished queue token."""

    code = "TOKEN_INVALID"
    title = "The queue token is not valid"


class TokenForbidden(Forbidden):
    """A live queue token used by another user or for another concert."""

    code = "TOKEN_INVALID"
    title = "The queue token is not valid for this request"


class TokenNotAdmitted(Forbidden):
    code = "TOKEN_NOT_ADMITTED"
    title = "Still waiting in the queue: not admitted yet"

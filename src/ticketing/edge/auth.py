"""The bearer checks, before-request hooks of the endpoints that need a signed-in caller
(``user_checks``, ``account_checks``, ``admin_checks``, ``door_checks``): authenticate (401), check
the account and its role (401, 403), then run ``strict_body`` (422)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State

from ticketing.container import services
from ticketing.edge.body import strict_body
from ticketing.edge.context import answer_is_personal
from ticketing.kernel.errors import Forbidden, Unauthenticated
from ticketing.kernel.security import Principal, read_access_token


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, read from the raw ASGI headers (names
    arrive lower-cased) without building Litestar's header mapping."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return None
            return token.strip() or None
    return None


# The caller, for handlers behind ``user_checks`` / ``admin_checks``: ``request.user`` is the
# verified Principal, put in the scope by the check rather than injected as a dependency.
AuthedRequest = Request[Principal, Any, State]
# Any request, for public handlers (they take it to reach their service; see below).
AppRequest = Request[Any, Any, State]

# Services reach handlers without Litestar's dependency injection: a handler takes ``request``
# and calls the wiring's typed accessor, ``services(request).wallets`` (``ticketing.container``;
# built once per process in the lifespan).
# A ``Provide`` dependency is resolved on every request: a resolution batch, a cleanup group
# entered on an exit stack, and the provided object validated against its annotation with the
# rest of the handler's parameters (two dependencies even start an anyio task group).


def _authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    token = _bearer(connection.scope["headers"])
    principal = read_access_token(token, secret=connection.app.state.settings.jwt_secret) if token else None
    if principal is None:
        raise Unauthenticated("A valid bearer access token is required")
    connection.scope["user"] = principal
    return principal


async def user_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: a verified bearer token (401), then a strict body (422)."""
    _authenticate(request)
    await strict_body(request)


async def current_account(request: Request[Any, Any, Any]) -> Principal:
    """The bearer checked against its account (``UserService.current``, one primary-key read
    shared by every check waiting at that moment): 401 once revoked by a sign-out or a password
    change; the role is the account's, not the token's."""
    answer_is_personal(request)
    principal = await services(request).users.current(_authenticate(request))
    request.scope["user"] = principal
    return principal


async def account_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook of every endpoint that shows or changes the caller's own data (profile,
    wallet and ledger, reservations, payments, tickets and their QR codes, queue join, sign-out,
    password change): a verified bearer token that has not been revoked (401), then a strict body
    (422); the answer carries ``Cache-Control: no-store``. Only the hot public reads of a sale
    (dates, seat maps) keep ``user_checks``: no database read, a revoked token reads them until
    it expires."""
    await current_account(request)
    await strict_body(request)


async def admin_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: a bearer token not revoked, of an account that is an operator now
    (401, 403), then a strict body."""
    if not (await current_account(request)).is_admin:
        raise Forbidden("This needs an operator account")
    await strict_body(request)


async def door_checks(request: Request[Any, Any, Any]) -> None:
    """Before-request hook of the door (check-in and a date's door count): a bearer token not
    revoked, of an account that is an operator or door staff now (401, 403), then a strict body."""
    if not (await current_account(request)).at_the_door:
        raise Forbidden("This needs a door staff or operator account")
    await strict_body(request)


class OperatorController(Controller):
    """The base of the operators' controllers (``/api/v1/admin/...``): every request through
    ``admin_checks``, every operation under the "operators" tag. The door's controller is not one
    (door staff pass ``door_checks``)."""

    tags = ["operators"]
    before_request = staticmethod(admin_checks)

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Controller, delete, get, post, put

from ticketing.container import services
from ticketing.edge.auth import AppRequest, AuthedRequest, OperatorController, account_checks
from ticketing.edge.openapi import error_responses
from ticketing.edge.params import AltchaHeader
from ticketing.edge.rate_limit_hooks import client_address, enforce, paced
from ticketing.kernel.errors import (
    ChallengeRequired,
    RateLimited,
    Unauthenticated,
)
from ticketing.kernel.hashing import password_checks
from ticketing.kernel.ratelimit import account_key
from ticketing.users.errors import InvalidDisplayName, UserNameTaken, UserNotFound
from ticketing.users.schemas import (
    AccessToken,
    DisplayNameIn,
    DoorStaffIn,
    PasswordChange,
    SignIn,
    SignUp,
    StaffOut,
    UserOut,
)


@asynccontextmanager
async def password_check(request: AppRequest) -> AsyncIterator[str]:
    """Around every request that hashes a password (sign-in, sign-up, password change), before any
    other work: a client back before its Retry-After is held (``paced``), then the request takes
    one of its address's places in the hashing share (429 at once when it has none left, see
    ``kernel/hashing.py``). Yields the client address, whose turn the hash takes."""
    address = client_address(request)
    async with paced(request, address):
        with password_checks.share(address):
            yield address


class UserController(Controller):
    path = "/api/v1"
    tags = ["users"]

    @post(
        "/users",
        status_code=201,
        responses=error_responses(InvalidDisplayName, UserNameTaken, RateLimited, ChallengeRequired),
        summary="Sign up (creates the user's wallet with balance 0); 428 while the proof-of-work gate is on "
        "and X-Altcha carries no valid solution",
    )
    async def sign_up(self, data: SignUp, request: AppRequest, x_altcha: AltchaHeader = None) -> UserOut:
        async with password_check(request) as address:
            await enforce(request, "sign_up", account=account_key(data.name), address=address)
            return await services(request).users.register(
                data.name, data.password, client=address, solution=x_altcha, display_name=data.display_name
            )

    @post(
        "/auth/token",
        status_code=200,
        responses=error_responses(Unauthenticated, RateLimited, ChallengeRequired),
        summary="Sign in: returns a bearer access token; 428 after failed sign-ins of the name or from the "
        "address (not from an address that signed in to the account before) until X-Altcha carries a solution",
    )
    async def sign_in(self, data: SignIn, request: AppRequest, x_altcha: AltchaHeader = None) -> AccessToken:
        async with password_check(request) as address:
            # The address's own limit here; the name's limits depend on the address (the service).
            await enforce(request, "sign_in", account=None, address=address)
            return await services(request).users.sign_in(data.name, data.password, client=address, solution=x_altcha)

    @delete(
        "/auth/token",
        status_code=204,
        before_request=account_checks,
        summary="Sign out: revokes every access token of the account issued before now (every device)",
    )
    async def sign_out(self, request: AuthedRequest) -> None:
        await services(request).users.sign_out(request.user)

    @put(
        "/users/me/password",
        status_code=200,
        before_request=account_checks,
        responses=error_responses(RateLimited),
        summary="Change the password (401 if the current one is wrong): revokes every access token "
        "issued before, answers a new one",
    )
    async def change_password(self, data: PasswordChange, request: AuthedRequest) -> AccessToken:
        async with password_check(request) as address:
            return await services(request).users.change_password(
                request.user, data.current_password, data.new_password, client=address
            )

    @get(
        "/users/me",
        before_request=account_checks,
        responses=error_responses(UserNotFound),
        summary="The signed-in user",
    )
    async def me(self, request: AuthedRequest) -> UserOut:
        return await services(request).users.me(request.user)

    @put(
        "/users/me/display-name",
        status_code=200,
        before_request=account_checks,
        responses=error_responses(InvalidDisplayName, UserNotFound),
        summary="Set what the pages call the signed-in fan (Korean allowed; null removes it); "
        "the sign-in name does not change",
    )
    async def set_display_name(self, data: DisplayNameIn, request: AuthedRequest) -> UserOut:
        return await services(request).users.set_display_name(request.user, data.display_name)


class AdminStaffController(OperatorController):
    path = "/api/v1/admin"

    @post(
        "/door-staff",
        status_code=201,
        responses=error_responses(UserNameTaken, RateLimited),
        summary="Create a door staff account: it signs in as any account does, and may check tickets in and "
        "read a date's door count, nothing else of the operators'",
    )
    async def create_door_staff(self, data: DoorStaffIn, request: AuthedRequest) -> StaffOut:
        async with password_check(request) as address:
            created = await services(request).users.sign_up(data.name, data.password, role="door", client=address)
        return StaffOut(id=created.id, name=created.name, role="door")

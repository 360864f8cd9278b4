from __future__ import annotations

from litestar import Controller, delete, get, post, put

from ticketing.core.errors import Unauthenticated, UnsupportedMediaType, ValidationError
from ticketing.core.http import AppRequest, AuthedRequest, account_checks, user_checks
from ticketing.core.openapi import error_responses
from ticketing.core.ratelimit import account_key, enforce
from ticketing.users.dependencies import user_service
from ticketing.users.errors import UserNameTaken, UserNotFound
from ticketing.users.schemas import AccessToken, PasswordChange, SignIn, SignUp, UserOut


class UserController(Controller):
    path = "/api/v1"
    tags = ["users"]

    @post(
        "/users",
        status_code=201,
        responses=error_responses(ValidationError, UnsupportedMediaType, UserNameTaken),
        summary="Sign up (creates the user's wallet with balance 0)",
    )
    async def sign_up(self, data: SignUp, request: AppRequest) -> UserOut:
        await enforce(request, "sign_up", account=account_key(data.name))
        return await user_service(request).sign_up(data.name, data.password)

    @post(
        "/auth/token",
        status_code=200,
        responses=error_responses(ValidationError, UnsupportedMediaType, Unauthenticated),
        summary="Sign in: returns a bearer access token",
    )
    async def sign_in(self, data: SignIn, request: AppRequest) -> AccessToken:
        await enforce(request, "sign_in", account=account_key(data.name))
        return await user_service(request).sign_in(data.name, data.password)

    @delete(
        "/auth/token",
        status_code=204,
        before_request=account_checks,
        responses=error_responses(Unauthenticated),
        summary="Sign out: revokes every access token of the account issued before now (every device)",
    )
    async def sign_out(self, request: AuthedRequest) -> None:
        await user_service(request).sign_out(request.user)

    @put(
        "/users/me/password",
        status_code=200,
        before_request=account_checks,
        responses=error_responses(Unauthenticated, ValidationError, UnsupportedMediaType),
        summary="Change the password (401 if the current one is wrong): revokes every access token "
        "issued before, answers a new one",
    )
    async def change_password(self, data: PasswordChange, request: AuthedRequest) -> AccessToken:
        return await user_service(request).change_password(request.user, data.current_password, data.new_password)

    @get(
        "/users/me",
        before_request=user_checks,
        responses=error_responses(Unauthenticated, UserNotFound),
        summary="The signed-in user",
    )
    async def me(self, request: AuthedRequest) -> UserOut:
        return await user_service(request).me(request.user)

from __future__ import annotations

from litestar import Controller, get, post

from ticketing.core.errors import Unauthenticated, ValidationError
from ticketing.core.http import AppRequest, AuthedRequest, user_checks
from ticketing.core.openapi import error_responses
from ticketing.users.dependencies import user_service
from ticketing.users.errors import UserNameTaken, UserNotFound
from ticketing.users.schemas import AccessToken, SignIn, SignUp, UserOut


class UserController(Controller):
    path = "/api/v1"
    tags = ["users"]

    @post(
        "/users",
        status_code=201,
        responses=error_responses(ValidationError, UserNameTaken),
        summary="Sign up (creates the user's wallet with balance 0)",
    )
    async def sign_up(self, data: SignUp, request: AppRequest) -> UserOut:
        return await user_service(request).sign_up(data.name, data.password)

    @post(
        "/auth/token",
        status_code=200,
        responses=error_responses(ValidationError, Unauthenticated),
        summary="Sign in: returns a bearer access token",
    )
    async def sign_in(self, data: SignIn, request: AppRequest) -> AccessToken:
        return await user_service(request).sign_in(data.name, data.password)

    @get(
        "/users/me",
        before_request=user_checks,
        responses=error_responses(Unauthenticated, UserNotFound),
        summary="The signed-in user",
    )
    async def me(self, request: AuthedRequest) -> UserOut:
        return await user_service(request).me(request.user)

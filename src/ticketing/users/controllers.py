from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import Provide

from ticketing.core.errors import Unauthenticated, ValidationError
from ticketing.core.http import AuthedRequest, require_user
from ticketing.core.openapi import error_responses
from ticketing.users.dependencies import provide_user_service
from ticketing.users.errors import UserNameTaken, UserNotFound
from ticketing.users.schemas import AccessToken, SignIn, SignUp, UserOut
from ticketing.users.service import UserService


class UserController(Controller):
    path = "/api/v1"
    tags = ["users"]
    dependencies = {"users": Provide(provide_user_service, sync_to_thread=False)}

    @post(
        "/users",
        status_code=201,
        responses=error_responses(ValidationError, UserNameTaken),
        summary="Sign up (creates the user's wallet with balance 0)",
    )
    async def sign_up(self, data: SignUp, users: UserService) -> UserOut:
        return await users.sign_up(data.name, data.password)

    @post(
        "/auth/token",
        status_code=200,
        responses=error_responses(ValidationError, Unauthenticated),
        summary="Sign in: returns a bearer access token",
    )
    async def sign_in(self, data: SignIn, users: UserService) -> AccessToken:
        return await users.sign_in(data.name, data.password)

    @get(
        "/users/me",
        guards=[require_user],
        responses=error_responses(Unauthenticated, UserNotFound),
        summary="The signed-in user",
    )
    async def me(self, request: AuthedRequest, users: UserService) -> UserOut:
        return await users.me(request.user)

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter

from ticketing.concerts.errors import ConcertNotFound
from ticketing.core.errors import ServiceUnavailable, Unauthenticated
from ticketing.core.http import AuthedRequest, require_user
from ticketing.core.openapi import error_responses
from ticketing.core.params import PathId
from ticketing.waiting_room.dependencies import provide_waiting_room
from ticketing.waiting_room.errors import TokenInvalid
from ticketing.waiting_room.schemas import QueueTokenInfoOut, QueueTokenOut
from ticketing.waiting_room.service import WaitingRoomService
from ticketing.waiting_room.tokens import MAX_TOKEN_LENGTH

QueueTokenHeader = Annotated[str | None, Parameter(header="X-Queue-Token", required=False, max_length=MAX_TOKEN_LENGTH)]


class WaitingRoomController(Controller):
    path = "/api/v1"
    tags = ["waiting room"]
    dependencies = {"waiting_room": Provide(provide_waiting_room, sync_to_thread=False)}

    @post(
        "/concerts/{concert_id:str}/queue/tokens",
        guards=[require_user],
        status_code=201,
        responses=error_responses(Unauthenticated, ConcertNotFound, ServiceUnavailable),
        summary="Join the waiting room (seed flow 3): 201 new token, 200 the live one you already have",
    )
    async def issue_token(
        self, concert_id: PathId, request: AuthedRequest, waiting_room: WaitingRoomService
    ) -> Response[QueueTokenOut]:
        token, created = await waiting_room.issue_token(request.user, concert_id)
        return Response(token, status_code=201 if created else 200)

    @get(
        "/queue/tokens/me",
        responses=error_responses(TokenInvalid, ServiceUnavailable),
        summary="Token info (seed flow 4): status, position, ETA; needs only X-Queue-Token",
    )
    async def token_info(
        self, waiting_room: WaitingRoomService, x_queue_token: QueueTokenHeader = None
    ) -> QueueTokenInfoOut:
        return await waiting_room.token_info(x_queue_token)

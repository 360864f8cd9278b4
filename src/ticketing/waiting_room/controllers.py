from __future__ import annotations

import msgspec
from litestar import Controller, get, post

from ticketing.concerts.errors import ConcertNotFound
from ticketing.container import services
from ticketing.edge.auth import AppRequest, AuthedRequest, account_checks
from ticketing.edge.lane import FAST_LANE
from ticketing.edge.openapi import body_of, error_responses
from ticketing.edge.params import AltchaHeader, PathId, QueueTokenHeader
from ticketing.edge.rate_limit_hooks import enforce
from ticketing.edge.responses import JsonBytes
from ticketing.kernel.errors import ChallengeRequired, RateLimited
from ticketing.waiting_room.schemas import DrawOut, QueueTokenInfoOut, QueueTokenOut


class WaitingRoomController(Controller):
    path = "/api/v1"
    tags = ["waiting room"]

    @post(
        "/concerts/{concert_id:str}/queue/tokens",
        before_request=account_checks,
        status_code=201,
        responses={
            201: body_of(QueueTokenOut),
            200: body_of(QueueTokenOut, "The live token you already have"),
            **error_responses(ConcertNotFound, RateLimited, ChallengeRequired),
        },
        summary="Join the waiting room: 201 new token, 200 the live one you already have; 428 "
        "while the queue is under pressure and X-Altcha carries no valid solution",
        opt=FAST_LANE,
    )
    async def issue_token(self, concert_id: PathId, request: AuthedRequest, x_altcha: AltchaHeader = None) -> JsonBytes:
        await enforce(request, "queue_join", account=str(request.user.user_id))
        opens_at = await services(request).schedules.sale_opens_at(concert_id)  # 404 for an unknown concert
        room = services(request).waiting_room
        token, created = await room.join(request.user, concert_id, sale_opens_at=opens_at, solution=x_altcha)
        return JsonBytes(msgspec.json.encode(token), status_code=201 if created else 200)

    @get(
        "/queue/tokens/me",
        responses={200: body_of(QueueTokenInfoOut)},
        summary="Token info: status, position, ETA, when to ask again; needs only X-Queue-Token",
        opt=FAST_LANE,
    )
    async def token_info(self, request: AppRequest, x_queue_token: QueueTokenHeader = None) -> JsonBytes:
        return JsonBytes(msgspec.json.encode(await services(request).waiting_room.token_info(x_queue_token)))

    @get(
        "/concerts/{concert_id:str}/queue/draw",
        responses={200: body_of(DrawOut), **error_responses(ConcertNotFound)},
        summary="The fair start's draw (public): the commitment before the opening, the key after it",
    )
    async def draw(self, concert_id: PathId, request: AppRequest) -> JsonBytes:
        await services(request).concerts.ensure_exists(concert_id)
        return JsonBytes(msgspec.json.encode(await services(request).waiting_room.draw(concert_id)))

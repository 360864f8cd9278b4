from __future__ import annotations

from litestar import Controller, get, post

from ticketing.concerts.errors import ConcertNotFound
from ticketing.concerts.schemas import ConcertIn, ConcertOut
from ticketing.container import services
from ticketing.edge.http import AppRequest, AuthedRequest, admin_checks
from ticketing.edge.openapi import error_responses
from ticketing.edge.params import PathId
from ticketing.kernel.errors import Forbidden, Unauthenticated, UnsupportedMediaType, ValidationError


class ConcertController(Controller):
    path = "/api/v1/concerts"
    tags = ["concerts"]

    @get("/", summary="Every concert, ordered by id (public)")
    async def list_concerts(self, request: AppRequest) -> list[ConcertOut]:
        return await services(request).concerts.list_concerts()

    @get("/{concert_id:str}", responses=error_responses(ConcertNotFound), summary="One concert (public)")
    async def get_concert(self, concert_id: PathId, request: AppRequest) -> ConcertOut:
        return await services(request).concerts.get_concert(concert_id)


class AdminConcertController(Controller):
    path = "/api/v1/admin/concerts"
    tags = ["operators"]
    before_request = staticmethod(admin_checks)

    @post(
        "/",
        status_code=201,
        responses=error_responses(Unauthenticated, Forbidden, ValidationError, UnsupportedMediaType),
    )
    async def create_concert(self, data: ConcertIn, request: AuthedRequest) -> ConcertOut:
        return await services(request).concerts.create_concert(data)

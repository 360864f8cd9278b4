from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import Provide

from ticketing.concerts.dependencies import provide_concert_service
from ticketing.concerts.errors import ConcertNotFound
from ticketing.concerts.schemas import ConcertIn, ConcertOut
from ticketing.concerts.service import ConcertService
from ticketing.core.errors import Forbidden, Unauthenticated, ValidationError
from ticketing.core.http import require_admin
from ticketing.core.openapi import error_responses
from ticketing.core.params import PathId


class ConcertController(Controller):
    path = "/api/v1/concerts"
    tags = ["concerts"]
    dependencies = {"concerts": Provide(provide_concert_service, sync_to_thread=False)}

    @get("/", summary="Every concert, ordered by id (public)")
    async def list_concerts(self, concerts: ConcertService) -> list[ConcertOut]:
        return await concerts.list_concerts()

    @get("/{concert_id:str}", responses=error_responses(ConcertNotFound), summary="One concert (public)")
    async def get_concert(self, concert_id: PathId, concerts: ConcertService) -> ConcertOut:
        return await concerts.get_concert(concert_id)


class AdminConcertController(Controller):
    path = "/api/v1/admin/concerts"
    tags = ["operators"]
    guards = [require_admin]
    dependencies = {"concerts": Provide(provide_concert_service, sync_to_thread=False)}

    @post("/", status_code=201, responses=error_responses(Unauthenticated, Forbidden, ValidationError))
    async def create_concert(self, data: ConcertIn, concerts: ConcertService) -> ConcertOut:
        return await concerts.create_concert(data)

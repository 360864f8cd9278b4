from __future__ import annotations

from litestar import Controller, get, patch, post

from ticketing.concerts.errors import ConcertNotFound
from ticketing.concerts.schemas import ConcertIn, ConcertListItem, ConcertOut, ConcertPatch
from ticketing.container import services
from ticketing.edge.auth import AppRequest, AuthedRequest, OperatorController
from ticketing.edge.openapi import error_responses
from ticketing.edge.params import PathId


class ConcertController(Controller):
    path = "/api/v1/concerts"
    tags = ["concerts"]

    @get(
        "/",
        summary="Every concert, ordered by id, with where its sale stands (public)",
        description=(
            "`sale_state`: NOT_SCHEDULED (no date yet), UPCOMING (none open now; the next opens at "
            "`sale_opens_at`), ON_SALE (a date is open with a seat not yet sold), SOLD_OUT (every open "
            "date sold, none to come), CLOSED (every date's window has ended), PAUSED (would be ON_SALE, "
            "but an operator paused the sale: fans may join the queue and keep their place; nobody is "
            "admitted until it resumes)."
        ),
    )
    async def list_concerts(self, request: AppRequest) -> list[ConcertListItem]:
        return await services(request).concerts.list_concerts_on_sale()

    @get("/{concert_id:str}", responses=error_responses(ConcertNotFound), summary="One concert (public)")
    async def get_concert(self, concert_id: PathId, request: AppRequest) -> ConcertOut:
        return await services(request).concerts.get_concert(concert_id)


class AdminConcertController(OperatorController):
    path = "/api/v1/admin/concerts"

    @post(
        "/",
        status_code=201,
    )
    async def create_concert(self, data: ConcertIn, request: AuthedRequest) -> ConcertOut:
        return await services(request).concerts.create_concert(data)

    @patch(
        "/{concert_id:str}",
        responses=error_responses(ConcertNotFound),
        summary="Edit a concert: the fields sent are changed (venue or description null: cleared)",
    )
    async def update_concert(self, concert_id: PathId, data: ConcertPatch, request: AuthedRequest) -> ConcertOut:
        return await services(request).concerts.update_concert(concert_id, data)

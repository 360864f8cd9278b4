from __future__ import annotations

from typing import Any

from litestar import Controller, get, post

from ticketing.container import services
from ticketing.edge.auth import AppRequest, AuthedRequest, OperatorController, admin_checks
from ticketing.edge.openapi import NOT_MODIFIED, body_of, error_responses
from ticketing.edge.params import PathId
from ticketing.edge.responses import CachedJson
from ticketing.kernel import deadline
from ticketing.kernel.errors import Forbidden, Unauthenticated
from ticketing.venues.errors import InvalidSeatingPlan, VenueNotFound
from ticketing.venues.schemas import MAX_PLAN_BYTES, VenueIn, VenueOut

# A venue's plan never changes: clients and proxies may keep it a day (and revalidate by ETag).
PLAN_CACHE_CONTROL = "public, max-age=86400"
PLAN_UPLOAD_SECONDS = 60.0


async def _plan_upload_checks(request: AuthedRequest) -> None:
    """The operator checks, on a longer clock: reading, checking and storing a 100,000-seat plan
    takes seconds (a rare operator's task, not a fan's request), so the request's deadline
    starts again at PLAN_UPLOAD_SECONDS before its body is read (TICKETING_REQUEST_DEADLINE_SECONDS
    bounds everything else)."""
    deadline.start(PLAN_UPLOAD_SECONDS)
    await admin_checks(request)


class VenueController(Controller):
    path = "/api/v1/venues"
    tags = ["venues"]

    @get(
        "/{venue_id:str}/plan",
        responses={200: body_of(dict[str, Any]), 304: NOT_MODIFIED, **error_responses(VenueNotFound)},
        summary="A venue's seating plan as uploaded (public; ETag, Cache-Control)",
    )
    async def plan(self, venue_id: PathId, request: AppRequest) -> CachedJson:
        body, etag = await services(request).venues.plan(venue_id)
        return CachedJson(body, etag, PLAN_CACHE_CONTROL)


class AdminVenueController(OperatorController):
    path = "/api/v1/admin/venues"

    @post(
        "/",
        status_code=201,
        # The one endpoint that takes more than TICKETING_MAX_BODY_BYTES: a 100,000-seat plan.
        request_max_body_size=MAX_PLAN_BYTES,
        before_request=_plan_upload_checks,
        responses=error_responses(Unauthenticated, Forbidden, InvalidSeatingPlan),
        summary="Create a venue from a seating plan (pretix's JSON format, up to 100,000 seats)",
    )
    async def create_venue(self, data: VenueIn, request: AuthedRequest) -> VenueOut:
        return await services(request).venues.create_venue(data)

    @get(
        "/{venue_id:str}",
        responses=error_responses(VenueNotFound),
        summary="A venue: its zones and categories",
    )
    async def get_venue(self, venue_id: PathId, request: AuthedRequest) -> VenueOut:
        return await services(request).venues.venue(venue_id)

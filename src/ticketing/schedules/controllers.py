from __future__ import annotations

from litestar import Controller, get, post

from ticketing.concerts.errors import ConcertNotFound
from ticketing.container import services
from ticketing.edge.auth import AuthedRequest, OperatorController, user_checks
from ticketing.edge.lane import FAST_LANE
from ticketing.edge.openapi import NOT_MODIFIED, Link, body_of, error_responses, linked
from ticketing.edge.params import PathId, QueueTokenHeader
from ticketing.edge.responses import CachedJson, CompressedJson, JsonBytes
from ticketing.schedules.errors import ScheduleNotFound, ScheduleNotOpen
from ticketing.schedules.schemas import (
    ScheduleCreatedOut,
    ScheduleIn,
    ScheduleOut,
    SeatMapOut,
    SeatOut,
    ZoneSeatsOut,
)
from ticketing.venues.errors import VenueNotFound, ZoneNotFound


class ScheduleController(Controller):
    path = "/api/v1"
    tags = ["schedules and seats"]
    before_request = staticmethod(user_checks)

    @get(
        "/concerts/{concert_id:str}/schedules",
        responses={
            200: body_of(list[ScheduleOut]),
            **error_responses(ConcertNotFound),
        },
        summary="Dates open for reservation with seats left",
        opt=FAST_LANE,
    )
    async def open_schedules(
        self, concert_id: PathId, request: AuthedRequest, x_queue_token: QueueTokenHeader = None
    ) -> JsonBytes:
        held = services(request).reservations.live_hold_until  # a fan's proof of admission after a Redis loss
        answer = await services(request).schedules.open_schedules(
            request.user.user_id, x_queue_token, concert_id, holds=held
        )
        return JsonBytes(answer)

    @get(
        "/schedules/{schedule_id:str}/seats",
        responses={
            200: body_of(list[SeatOut]),
            **error_responses(ScheduleNotFound, ScheduleNotOpen),
        },
        summary="Every seat of a schedule, each marked available or not",
        opt=FAST_LANE,
    )
    async def seats(
        self, schedule_id: PathId, request: AuthedRequest, x_queue_token: QueueTokenHeader = None
    ) -> CompressedJson:
        held = services(request).reservations.live_hold_until
        return CompressedJson(
            await services(request).schedules.seats(request.user.user_id, x_queue_token, schedule_id, holds=held)
        )

    @get(
        "/schedules/{schedule_id:str}/seat-map",
        responses={
            200: body_of(SeatMapOut),
            304: NOT_MODIFIED,
            **error_responses(ScheduleNotFound, ScheduleNotOpen),
        },
        summary="The date's classes and zones with the seats left in each (ETag; 304 on If-None-Match)",
        # What a fan does next: open a zone (followed by schemathesis' stateful phase, make test-api).
        opt=FAST_LANE
        | linked(
            Link(
                "SeatsOfAZone",
                "GET",
                "/api/v1/schedules/{schedule_id}/zones/{zone_id}/seats",
                status=200,
                parameters={"schedule_id": "$response.body#/schedule_id", "zone_id": "$response.body#/zones/0/id"},
                description="The seats of the date's first zone",
            )
        ),
    )
    async def seat_map(
        self, schedule_id: PathId, request: AuthedRequest, x_queue_token: QueueTokenHeader = None
    ) -> CachedJson:
        held = services(request).reservations.live_hold_until
        answer = await services(request).schedules.seat_map(
            request.user.user_id, x_queue_token, schedule_id, holds=held
        )
        return CachedJson(answer.body, answer.etag)

    @get(
        "/schedules/{schedule_id:str}/zones/{zone_id:str}/seats",
        responses={
            200: body_of(ZoneSeatsOut),
            304: NOT_MODIFIED,
            **error_responses(ScheduleNotFound, ScheduleNotOpen, ZoneNotFound),
        },
        summary="The seats of one zone of a date, each marked available or not (ETag; 304 on If-None-Match)",
        opt=FAST_LANE,
    )
    async def zone_seats(
        self,
        schedule_id: PathId,
        zone_id: PathId,
        request: AuthedRequest,
        x_queue_token: QueueTokenHeader = None,
    ) -> CachedJson:
        held = services(request).reservations.live_hold_until
        schedules = services(request).schedules
        answer = await schedules.zone_seats(request.user.user_id, x_queue_token, schedule_id, zone_id, holds=held)
        return CachedJson(answer.body, answer.etag)


class AdminScheduleController(OperatorController):
    path = "/api/v1/admin/concerts"

    @post(
        "/{concert_id:str}/schedules",
        status_code=201,
        responses=error_responses(ConcertNotFound, VenueNotFound),
        summary="Create a schedule: seats numbered 1..seat_count at one price, or a venue's seats priced by class",
        opt=linked(
            Link(
                "SeatMapOfTheDate",
                "GET",
                "/api/v1/schedules/{schedule_id}/seat-map",
                parameters={"schedule_id": "$response.body#/id"},
                description="The new date's seat map: its classes and zones",
            )
        ),
    )
    async def create_schedule(self, concert_id: PathId, data: ScheduleIn, request: AuthedRequest) -> ScheduleCreatedOut:
        return await services(request).schedules.create_schedule(concert_id, data)

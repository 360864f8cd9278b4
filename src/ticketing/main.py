"""The Litestar application: ``create_app()`` wires settings, the database pool, Redis,
services, error handlers and every domain's controllers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig

from ticketing.admin.controllers import AdminDashboardController
from ticketing.concerts.controllers import AdminConcertController, ConcertController
from ticketing.config import Settings, get_settings
from ticketing.container import open_services
from ticketing.edge.body import strict_body
from ticketing.edge.context import RequestContextMiddleware
from ticketing.edge.lane import FastLane
from ticketing.edge.openapi import CompletedJsonRenderPlugin
from ticketing.edge.problems import EXCEPTION_HANDLERS
from ticketing.edge.responses import answer_options_with_every_method
from ticketing.events.controllers import EventController
from ticketing.kernel.jobs import JobRunner
from ticketing.kernel.logs import configure_logging
from ticketing.ops.bench import BenchBaselineController
from ticketing.ops.controllers import MetricsController, OpsController
from ticketing.payments.controllers import PaymentController
from ticketing.reservations.controllers import AllowanceController, ReservationController
from ticketing.schedules.controllers import AdminScheduleController, ScheduleController
from ticketing.tickets.controllers import AdminCheckInController, AdminScheduleTicketController, TicketController
from ticketing.users.controllers import AdminStaffController, UserController
from ticketing.venues.controllers import AdminVenueController, VenueController
from ticketing.waiting_room.controllers import WaitingRoomController
from ticketing.wallets.controllers import WalletController
from ticketing.web.controllers import LocalSwaggerRenderPlugin, not_found, page, static_files, swagger_ui_files


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            jobs = JobRunner(
                services.server_jobs() + (services.background_jobs() if settings.run_jobs_in_server else [])
            )
            jobs.start()
            # Everything built so far lives as long as the process: move it out of the collector's
            # sight, so that full collections under load scan only per-request garbage (shorter
            # pauses, which show up as p99).
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                services.events.close_all()  # open event streams say "bye" and end
                await jobs.stop()

    baselines = [BenchBaselineController] if settings.bench_endpoints else []
    app = Litestar(
        route_handlers=[
            *baselines,
            OpsController,
            MetricsController,
            UserController,
            AdminStaffController,
            WalletController,
            ConcertController,
            AdminConcertController,
            WaitingRoomController,
            EventController,
            VenueController,
            AdminVenueController,
            ScheduleController,
            AdminScheduleController,
            ReservationController,
            AllowanceController,
            PaymentController,
            TicketController,
            AdminDashboardController,
            AdminCheckInController,
            AdminScheduleTicketController,
            page,
            static_files,
            swagger_ui_files,
        ],
        lifespan=[lifespan],
        state=_initial_state(settings),
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: not_found},
        before_request=strict_body,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Concert reservation service",
            version="1.0.0",
            path="/docs",
            # /docs/openapi.json serves the completed document, as /openapi.json does (edge/openapi.py).
            render_plugins=[LocalSwaggerRenderPlugin("Concert reservation service"), CompletedJsonRenderPlugin()],
        ),
        debug=False,
    )
    # Around the whole application rather than as route middleware (see RequestContextMiddleware);
    # it also adds the security headers (edge/headers.py).
    # The fast lane (edge/lane.py) sits inside it: both ways get the same request context.
    handler = FastLane(app, app.asgi_handler) if settings.fast_lane else app.asgi_handler
    app.asgi_handler = RequestContextMiddleware(handler, settings.request_deadline_seconds)
    answer_options_with_every_method(app)
    return app


def _initial_state(settings: Settings) -> State:
    return State({"settings": settings})


def app_factory() -> Litestar:
    """Entry point for ASGI servers (``granian --factory ticketing.main:app_factory``)."""
    return create_app()

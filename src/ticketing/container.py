"""Wires the services of every domain once per process. Domains reach each other only through
the services built here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ticketing.admin.service import AdminService
from ticketing.concerts.service import ConcertService
from ticketing.config import Settings
from ticketing.events.service import EventService
from ticketing.events.store import EventTicketStore
from ticketing.idempotency.service import IdempotencyService
from ticketing.kernel.challenge import ChallengeGate
from ticketing.kernel.db import Pool, create_pool, transaction_settings_sql
from ticketing.kernel.hashing import password_checks
from ticketing.kernel.jobs import PeriodicJob
from ticketing.kernel.ratelimit import RateLimiter
from ticketing.kernel.redis import RedisClient, create_redis
from ticketing.kernel.uow import UnitOfWorkFactory
from ticketing.payments.repository import WARM_STATEMENTS
from ticketing.payments.service import PaymentService
from ticketing.reservations.jobs import hold_sweeper_job
from ticketing.reservations.service import ReservationService
from ticketing.reservations.store import SeatLockStore
from ticketing.schedules.service import ScheduleService
from ticketing.tickets.service import TicketService
from ticketing.users.service import UserService
from ticketing.venues.service import VenueService
from ticketing.waiting_room.jobs import admission_job, pause_job, sold_out_job
from ticketing.waiting_room.service import WaitingRoomService
from ticketing.waiting_room.store import QueueStore
from ticketing.wallets.service import WalletService

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection


@dataclass
class Services:
    settings: Settings
    pool: Pool
    redis: RedisClient
    uow: UnitOfWorkFactory
    idempotency: IdempotencyService
    wallets: WalletService
    users: UserService
    concerts: ConcertService
    venues: VenueService
    waiting_room: WaitingRoomService
    schedules: ScheduleService
    reservations: ReservationService
    payments: PaymentService
    tickets: TicketService
    admin: AdminService
    rate_limits: RateLimiter
    challenges: ChallengeGate
    events: EventService

    def server_jobs(self) -> list[PeriodicJob]:
        """What every server process runs for itself (its own in-process state)."""
        return [self.waiting_room.sync_job()]

    def background_jobs(self) -> list[PeriodicJob]:
        """Every periodic job of every domain; run in the server or by ``ticketing worker``."""
        return [
            PeriodicJob("purge-idempotency-keys", 3600, self.idempotency.purge_expired),
            admission_job(self.waiting_room, self.schedules.seats_for_sale),
            sold_out_job(self.waiting_room, self.schedules.concert_sold_out),
            pause_job(self.waiting_room, self.concerts.reassert_pauses),
            hold_sweeper_job(self.reservations),
        ]


def build_services(settings: Settings, pool: Pool, redis: RedisClient) -> Services:
    password_checks.configure(
        threads=settings.password_hash_threads,
        queue=settings.password_hash_queue,
        per_address=settings.password_hash_per_address if settings.rate_limits_enabled else 0,
        nice=settings.password_hash_nice,
    )
    rate_limits = RateLimiter(redis, settings)
    gate = ChallengeGate(redis, settings)
    uow_factory = UnitOfWorkFactory(
        pool, acquire_timeout=settings.db_pool_timeout_seconds, begin_sql=transaction_settings_sql(settings)
    )

    idempotency = IdempotencyService(uow_factory, settings.idempotency_ttl_hours)
    wallets = WalletService(uow_factory, idempotency, max_charge=settings.max_charge, balance_cap=settings.balance_cap)
    users = UserService(
        uow_factory,
        wallets,
        jwt_secret=settings.jwt_secret,
        jwt_ttl=settings.jwt_ttl_seconds,
        limiter=rate_limits,
        gate=gate,
    )
    concerts = ConcertService(uow_factory)
    venues = VenueService(uow_factory)
    # Schedules and reservations are built on the waiting room: what it needs of them (the sale's
    # opening, a fan's live hold after a Redis loss) comes with each call, from their side.
    waiting_room = WaitingRoomService(QueueStore(redis), settings, gate=gate)
    schedules = ScheduleService(uow_factory, concerts, venues, waiting_room, settings.seat_cache_seconds)
    reservations = ReservationService(
        uow_factory,
        SeatLockStore(redis),
        waiting_room,
        schedules,
        users,
        strategy=settings.seat_lock_strategy,
        hold_seconds=settings.hold_seconds,
        max_holds_per_user=settings.max_holds_per_user,
        max_holds_per_address=settings.max_holds_per_address,
        max_seats_per_hold=settings.max_seats_per_hold,
        max_tickets_per_fan=settings.max_tickets_per_fan,
    )
    tickets = TicketService(uow_factory, concerts, schedules)
    payments = PaymentService(
        uow_factory,
        idempotency,
        waiting_room,
        schedules,
        reservations,
        wallets,
        tickets,
        max_reservations=settings.max_holds_per_user,
        refund_cutoff_hours=settings.refund_cutoff_hours,
        max_refunds_per_fan_per_date=settings.max_refunds_per_fan_per_date,
    )
    return Services(
        settings=settings,
        pool=pool,
        redis=redis,
        uow=uow_factory,
        idempotency=idempotency,
        wallets=wallets,
        users=users,
        concerts=concerts,
        venues=venues,
        waiting_room=waiting_room,
        schedules=schedules,
        reservations=reservations,
        payments=payments,
        tickets=tickets,
        admin=AdminService(concerts, schedules, waiting_room, reservations, payments),
        rate_limits=rate_limits,
        challenges=gate,
        events=EventService(
            EventTicketStore(redis),
            waiting_room,
            schedules,
            max_streams=settings.event_streams_max,
            ticket_seconds=settings.event_ticket_seconds,
            stream_seconds=settings.event_stream_seconds,
            heartbeat_seconds=settings.event_heartbeat_seconds,
            request_deadline_seconds=settings.request_deadline_seconds,
        ),
    )


def services(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The process's services (built once in the lifespan, ``create_app``), typed, for handlers
    and hooks: read from the app state by the handler itself rather than injected with
    ``Provide`` (see ``ticketing.edge.auth``)."""
    built: Services = connection.app.state.services
    return built


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """A connection pool, a Redis client and the services built on them, closed on exit: the
    server's lifespan, the CLI commands, the tests and the fault-injection harness all start so."""
    pool = await create_pool(settings, warm=WARM_STATEMENTS)
    redis = create_redis(settings)
    try:
        yield build_services(settings, pool, redis)
    finally:
        await redis.aclose()
        await pool.close()

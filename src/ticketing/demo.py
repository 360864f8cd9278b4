"""Demo data for local runs: the operator account and a few fans with money in their wallets.
Loading twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from ticketing.concerts.schemas import ConcertIn
from ticketing.container import Services
from ticketing.idempotency.service import idempotent_request
from ticketing.kernel.security import Principal
from ticketing.schedules.schemas import ScheduleIn
from ticketing.users.errors import UserNameTaken
from ticketing.venues.example import example_plan
from ticketing.venues.schemas import VenueIn

log = structlog.get_logger("ticketing.demo")

DEMO_FAN_PASSWORD = "password123"  # noqa: S105 - documented demo credential, local runs only
DEMO_FANS = {"alice": 500_000, "bob": 300_000, "carol": 100_000}
DEMO_CONCERT = "IU — The Golden Hour (demo)"
DEMO_DATES = 3
DEMO_SEATS = 50
DEMO_PRICE = 50_000
DEMO_CLASS_PRICES = {"VIP": 198_000, "R": 154_000, "S": 132_000, "A": 99_000}


async def load_demo_data(services: Services) -> None:
    settings = services.settings
    await services.users.ensure_operator("admin", settings.admin_password)
    for name, balance in DEMO_FANS.items():
        try:
            user = await services.users.sign_up(name, DEMO_FAN_PASSWORD)
        except UserNameTaken:
            continue  # already loaded
        principal = Principal(user_id=user.id, name=user.name, role="fan")
        key = idempotent_request(user.id, "demo-initial-balance", "POST", "demo", b"")
        await services.wallets.charge(principal, user.wallet_id, balance, key)
    await _demo_concert(services)
    log.info("demo data loaded", operator="admin", fans=list(DEMO_FANS), concert=DEMO_CONCERT)


async def _demo_concert(services: Services) -> None:
    """A concert with several dates of 50 seats, open for reservation from now on."""
    if any(c.title == DEMO_CONCERT for c in await services.concerts.list_concerts()):
        return
    concert = await services.concerts.create_concert(
        ConcertIn(title=DEMO_CONCERT, venue="Olympic Hall, Seoul", description="Demo data of a local run")
    )
    now = datetime.now(UTC).replace(microsecond=0)
    for day in range(DEMO_DATES):
        await _add_date(services, concert.id, now, day, price=DEMO_PRICE, seat_count=DEMO_SEATS)
    # One more date, in a real-sized hall: the example seating plan (15,000 seats, VIP/R/S/A).
    venue = await services.venues.create_venue(VenueIn(name="Example Arena (demo)", plan=example_plan()))
    await _add_date(services, concert.id, now, DEMO_DATES, venue_id=venue.id, prices=DEMO_CLASS_PRICES)


async def _add_date(
    services: Services,
    concert_id: int,
    now: datetime,
    day: int,
    *,
    price: int | None = None,
    seat_count: int | None = None,
    venue_id: int | None = None,
    prices: dict[str, int] | None = None,
) -> None:
    """Date ``day`` of the demo concert (a day apart, a month from now), on sale from an hour ago
    until an hour before it starts; its seats as ``ScheduleIn`` takes them."""
    starts_at = now + timedelta(days=30 + day, hours=2)
    await services.schedules.create_schedule(
        concert_id,
        ScheduleIn(
            starts_at=starts_at,
            reservation_opens_at=now - timedelta(hours=1),
            reservation_closes_at=starts_at - timedelta(hours=1),
            price=price,
            seat_count=seat_count,
            venue_id=venue_id,
            prices=prices,
        ),
    )

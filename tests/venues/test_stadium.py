"""A 60,000-seat date (60 zones of 1,000 seats): made in one statement, its seat map and zone
answers small once compressed, and what one process keeps of them measured and printed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.factories import admitted_token, create_concert, create_user
from tests.support import Client
from ticketing.container import Services
from ticketing.edge.responses import COMPRESSED_BODIES
from ticketing.schedules.schemas import ScheduleIn
from ticketing.schedules.service import ScheduleService
from ticketing.venues.example import hall_plan
from ticketing.venues.schemas import VenueIn

PRICES = {"VIP": 250_000, "R": 180_000, "S": 140_000, "A": 99_000}


async def test_a_stadium_date_and_its_seat_map(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    plan = hall_plan("Stadium", zones=60, rows=20, seats_per_row=50, per_line=10)
    started = time.perf_counter()
    venue = await services.venues.create_venue(VenueIn(name="Stadium", plan=plan))
    uploaded = time.perf_counter() - started
    now = datetime.now(UTC)
    started = time.perf_counter()
    date = await services.schedules.create_schedule(
        concert,
        ScheduleIn(
            starts_at=now + timedelta(days=10),
            reservation_opens_at=now - timedelta(hours=1),
            reservation_closes_at=now + timedelta(days=9),
            venue_id=venue.id,
            prices=PRICES,
        ),
    )
    created = time.perf_counter() - started
    assert date.seat_count == 60_000 and sum(c.seat_count for c in date.classes) == 60_000
    async with services.uow(autocommit=True) as uow:
        assert await uow.conn.fetchval("SELECT count(*) FROM seats WHERE schedule_id = $1", date.id) == 60_000

    fan = await create_user(services)
    headers = {**fan.headers, "X-Queue-Token": await admitted_token(services, fan, concert), "Accept-Encoding": "br"}
    summary = await client.get(f"/api/v1/schedules/{date.id}/seat-map", headers=headers)
    assert summary.status_code == 200
    zones = summary.json()["zones"]
    assert len(zones) == 60 and sum(z["available"] for z in zones) == 60_000
    summary_size = int(summary.headers.get("content-length", len(summary.content)))
    zone_sizes, raw_sizes = [], []
    for zone in zones:
        answer = await client.get(f"/api/v1/schedules/{date.id}/zones/{zone['id']}/seats", headers=headers)
        assert answer.status_code == 200 and answer.headers["content-encoding"] == "br"
        zone_sizes.append(int(answer.headers["content-length"]))
        raw_sizes.append(len(answer.content))
    assert all(sum(z["available_by_class"].values()) == z["available"] == 1_000 for z in zones)
    schedules: ScheduleService = client.app.state.services.schedules
    cache = schedules.seat_map_cache_bytes(date.id)
    compressed = COMPRESSED_BODIES.size_bytes()  # this date's br answers (and nothing else yet)
    print(
        f"\n60,000-seat date: plan stored in {uploaded:.2f} s, date created in {created:.2f} s; "
        f"seat map {summary_size:,} B on the wire; a zone {max(raw_sizes):,} B, {max(zone_sizes):,} B as br; "
        f"this process's cache of the date's seat map and 60 zones: {cache / 1024 / 1024:.2f} MiB "
        f"as JSON, {compressed / 1024:.0f} KiB of it as br"
    )
    assert summary_size <= 8 * 1024
    assert max(zone_sizes) <= 16 * 1024
    # Encoded bytes per zone, not objects: about the JSON's own size.
    assert sum(raw_sizes) <= cache <= sum(raw_sizes) * 1.1 + 64 * 1024

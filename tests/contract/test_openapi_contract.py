"""The OpenAPI document holds against the live service.

``ticketing serve`` (granian, as deployed) on the test servers with the demo data, then the
schemathesis CLI against its ``/openapi.json``: examples, coverage (boundary and negative values
of every parameter and field, undeclared methods), fuzzing, and the stateful phase, which follows
the links the document declares (a hold's 201 to its payment, its read and its release). The run
fails on a 5xx, a status code the document does not list for the operation, a body that does not
match the documented schema, a content type that is not the documented one, an ``Allow`` header
that does not list the path's methods, and the rest of ``CHECKS``; the test then also fails
unless a hold was paid through the link.

Repeatable: Hypothesis' derandomized generation (schemathesis' deterministic mode) on a fresh
database, so a CI run tests what the last one did. Bounded: ``MAX_EXAMPLES`` per operation and
phase, about a minute on two cores. Rate limits are raised for the run as the bench does
(``HARNESS_LIMITS``: one client address makes every request here), and so are the per-fan hold cap
and ticket limit.

Auth (``hooks.py``): the funded demo fan's bearer token, the operator's on ``/api/v1/admin/...``,
and the fan's admitted queue token, renewed when the service refuses one. Seat ids and the concert
id are drawn half of the time from the run's own date (1-won seats, so the fan can pay for many),
so holds and payments succeed often enough for the stateful phase to follow hold -> pay.

Run with ``make test-api`` (or ``pytest -m contract``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bench.server import HOST, ServiceUnderTest

from ticketing.concerts.schemas import ConcertIn
from ticketing.config import Settings
from ticketing.container import open_services
from ticketing.demo import DEMO_FAN_PASSWORD, load_demo_data
from ticketing.schedules.schemas import ScheduleIn
from ticketing.venues.example import hall_plan
from ticketing.venues.schemas import VenueIn

pytestmark = pytest.mark.contract

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FAN = "alice"  # a demo fan, funded by the demo data
MAX_EXAMPLES = 100
STATEFUL_MAX_STEPS = 10
CONTRACT_SEATS = 500
RUN_TIMEOUT_SECONDS = 900  # a hang, not a slow run: the run takes about a minute

# Not ``positive_data_acceptance``: a schema-valid request may still be refused for what no schema
# can say: a reused Idempotency-Key (422 IDEMPOTENCY_KEY_REUSED), schedule dates out of order (422),
# both documented statuses of those operations.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
]


async def _prepare(settings: Settings) -> tuple[int, list[int], int, list[int]]:
    """The demo data, plus a concert of the run with two dates open now: one of 1-won seats, and
    one on a small venue (its id and its zones' ids, so that the seat map's and a zone's seats
    are asked for with real ids, not only 404s)."""
    async with open_services(settings) as services:
        await load_demo_data(services)
        concert = await services.concerts.create_concert(ConcertIn(title="Contract run", venue="Loopback Hall"))
        now = datetime.now(UTC).replace(microsecond=0)
        schedule = await services.schedules.create_schedule(
            concert.id,
            ScheduleIn(
                starts_at=now + timedelta(days=30),
                reservation_opens_at=now - timedelta(hours=1),
                reservation_closes_at=now + timedelta(days=29),
                price=1,
                seat_count=CONTRACT_SEATS,
            ),
        )
        venue = await services.venues.create_venue(
            VenueIn(name="Contract hall", plan=hall_plan(zones=2, rows=2, seats_per_row=5))
        )
        on_venue = await services.schedules.create_schedule(
            concert.id,
            ScheduleIn(
                starts_at=now + timedelta(days=31),
                reservation_opens_at=now - timedelta(hours=1),
                reservation_closes_at=now + timedelta(days=29),
                venue_id=venue.id,
                prices={category.name: 1 for category in venue.categories},
            ),
        )
    return concert.id, [seat.id for seat in schedule.seats], on_venue.id, [zone.id for zone in venue.zones]


def _config(base_url: str, concert_id: int, seat_ids: list[int], schedule_id: int, zone_ids: list[int]) -> str:
    seats = ", ".join(map(str, seat_ids))
    zones = ", ".join(map(str, zone_ids))
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    return f"""\
base-url = "{base_url}"
# One worker: the same order every run, and no concurrent ast.parse in Hypothesis (two workers
# on this CPython 3.11 once died with "SystemError: AST constructor recursion depth mismatch").
workers = 1
request-timeout = 30

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true
database = "none"

[checks]
enabled = false
{checks}

[phases.stateful]
max-steps = {STATEFUL_MAX_STEPS}
# The links the document declares, not ones guessed from field names: a guessed link filled
# "reservation_ids" with one reservation's id, and its 422s crowded out the declared hold -> pay.
inference.algorithms = []

[parameters]
"body.seat_id" = {{ dictionary = "contract_seats", probability = 0.5 }}
"path.concert_id" = {{ dictionary = "contract_concert", probability = 0.5 }}
"path.schedule_id" = {{ dictionary = "contract_venue_date", probability = 0.5 }}
"path.zone_id" = {{ dictionary = "contract_zones", probability = 0.5 }}

# docs/api.md: releasing a hold (DELETE) keeps the reservation, which then reads as CANCELLED: a release,
# not a removal, so a read after it answering 200 is the contract, not a use after free.
[[operations]]
include-path = "/api/v1/reservations/{{reservation_id}}"
include-method = "GET"
checks.use_after_free.enabled = false

[dictionaries.contract_seats]
values = [{seats}]

[dictionaries.contract_concert]
values = [{concert_id}]

[dictionaries.contract_venue_date]
values = [{schedule_id}]

[dictionaries.contract_zones]
values = [{zones}]
"""


def test_the_live_service_answers_as_its_openapi_document_says(settings: Settings, clean: None, tmp_path: Path) -> None:
    concert_id, seat_ids, venue_date, zone_ids = asyncio.run(_prepare(settings))
    service = ServiceUnderTest(settings.database_url or "", settings.redis_url or "", settings.data_dir)
    # Every hold of the fuzzing phase stays until it expires, and the fan pays for many seats of the
    # run's one date: the per-fan hold cap and ticket limit (4 each) would refuse the stateful
    # phase's holds, and with them the links to the payment.
    service.start(queue_admit_per_second=1000, max_holds_per_user=100_000, max_tickets_per_fan=100_000)
    try:
        base_url = f"http://{HOST}:{service.port}"
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(base_url, concert_id, seat_ids, venue_date, zone_ids))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
            "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
            "CONTRACT_BASE_URL": base_url,
            "CONTRACT_FAN_NAME": FAN,
            "CONTRACT_FAN_PASSWORD": DEMO_FAN_PASSWORD,
            "CONTRACT_OPERATOR_NAME": "admin",
            "CONTRACT_OPERATOR_PASSWORD": settings.admin_password,
            "CONTRACT_CONCERT_ID": str(concert_id),
        }
        schemathesis = Path(sys.executable).with_name("schemathesis")
        command = [str(schemathesis), "--config-file", str(config), "--no-color", "run", f"{base_url}/openapi.json"]
        finished = subprocess.run(command, env=env, cwd=tmp_path, timeout=RUN_TIMEOUT_SECONDS, check=False)
        assert finished.returncode == 0, "schemathesis found the service and its OpenAPI document apart (above)"
    finally:
        service.stop()
    paid = asyncio.run(_payments_of_the_run(settings))
    assert paid > 0, "the stateful phase never followed a hold to its payment"


async def _payments_of_the_run(settings: Settings) -> int:
    async with open_services(settings) as services, services.uow() as uow:
        count = await uow.conn.fetchval(
            "SELECT count(*) FROM payments p JOIN users u ON u.id = p.user_id WHERE u.name = $1", FAN
        )
    return int(count)

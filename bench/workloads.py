"""The workloads of ``make bench``: per-endpoint closed loops (lists of pre-built requests, driven
by wrk), the lock-strategy runs and the end-to-end flash sale (the Python client: they act on
answers). Data is prepared through the service (its services in-process, or HTTP)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import msgspec

from bench.client import Pool, Recorder, Response, closed_loop, encode_request
from bench.fixtures import LoadTestFan, create_fans
from bench.loadgen import Generator, LoadResult, PythonClient
from bench.repository import BenchRepository
from bench.server import ServedProcess
from ticketing.concerts.schemas import ConcertIn, ConcertOut
from ticketing.container import Services
from ticketing.kernel.challenge import ChallengeGate, join_action, solve
from ticketing.reservations.schemas import ReservationOut
from ticketing.schedules.schemas import ScheduleCreatedOut, ScheduleIn, ScheduleOut, SeatOut
from ticketing.venues.schemas import VenueOut
from ticketing.waiting_room.schemas import QueueTokenOut

HOST = "127.0.0.1"


# The read path's targets, as ratios to the floor F_http measured in the same run.
READ_PATH_TARGETS: dict[str, float] = {
    "healthz": 0.80,
    "token poll": 0.60,
    "open dates": 0.50,
    "seat list": 0.50,
    "token issue": 0.30,
    "token issue, proof-of-work on": 0.30,  # issue 26: the opening second of every sale
}
READ_PATH_P99_LIMIT = 0.050  # seconds

# The write path's targets, as (ratio to F_http of the same run, p99 limit in seconds).
# The hold race and the payment are those of the default seat lock strategy.
WRITE_TARGETS: dict[str, tuple[float, float]] = {
    "hold race": (0.20, 0.050),  # issue 26: a lost race answered as cheaply as a read
    "charge (distinct wallets)": (0.12, 0.050),
    "charge (one hot wallet)": (0.20, 0.050),
    "payment": (0.08, 0.100),
}


# Token issue with the proof-of-work gate on for every join: each request carries a
# solution of its own, solved here before the run (single-use: a solution sent twice is a 428).
# Solved at a low difficulty: at the default (100,000) the bench would spend hours of CPU solving
# for a 10-second run. The server's cost does not depend on it (one SHA-256 of the salt and the
# number, one HMAC, one SET NX), so what is measured is what a sale pays per join, whatever the
# difficulty fans solve at.
GATED_ISSUE_MAX_NUMBER = 50
GATED_JOINS: dict[str, object] = {
    "challenge_enabled": True,
    "challenge_join_waiting": 0,  # every join needs a solution
    "challenge_max_number": GATED_ISSUE_MAX_NUMBER,
}


def presolved_joins(services: Services, concert_id: int, count: int) -> list[str]:
    """``count`` X-Altcha solutions for joins of ``concert_id``, from challenges made with the
    service's own secret (the bench shares the service's data folder), as a 428 would carry them."""
    settings = services.settings.model_copy(update={"challenge_max_number": GATED_ISSUE_MAX_NUMBER})
    gate = ChallengeGate(services.redis, settings)
    action = join_action(concert_id)
    return [solve(gate.issue(action)) for _ in range(count)]


@dataclass
class Target:
    port: int
    connections: int
    duration: float
    generator: Generator = field(default_factory=PythonClient)
    server: ServedProcess | None = None  # whose CPU time each run records (the service, the floor)

    def server_cpu(self) -> float | None:
        return self.server.cpu_seconds() if self.server is not None else None

    def cpu_line(self, cpu_per_request_us: float | None) -> str:
        return "" if cpu_per_request_us is None else f"  server CPU {cpu_per_request_us:6.1f} µs/req"

    @property
    def host_header(self) -> str:
        return f"{HOST}:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> bytes:
        return encode_request("GET", path, self.host_header, headers)

    def post(self, path: str, body: object, headers: dict[str, str] | None = None) -> bytes:
        return encode_request("POST", path, self.host_header, headers, body)

    async def loop(
        self, name: str, request: object, total: int | None = None, duration: float | None = None
    ) -> Recorder:
        print(f"  running {name} ({self.connections} connections) ...", flush=True)
        cpu_before = self.server_cpu()
        recorder = await closed_loop(
            HOST, self.port, name, self.connections, duration or self.duration, request, total=total
        )
        recorder.server_cpu_seconds = _spent(cpu_before, self.server_cpu())
        print(
            f"  {name:<28} {recorder.throughput:>9,.0f} req/s  p99 {recorder.percentile(0.99) * 1000:7.1f} ms  "
            f"{dict(recorder.codes)}{self.cpu_line(recorder.server_cpu_per_request_us)}",
            flush=True,
        )
        return recorder

    async def warm_up(self, requests: Sequence[bytes], seconds: float = 2.0) -> None:
        """Load right after a server start, not recorded. The server answers its readiness probe
        as soon as one worker is up; keep-alive connections opened while another worker still
        loads the app would all stay on the first one for the whole measurement."""
        print(f"  warming up ({seconds:g} s, not recorded) ...", flush=True)
        await self.generator.run("warm-up", self.port, requests, seconds, self.connections)

    async def drive(self, name: str, requests: Sequence[bytes]) -> LoadResult:
        """A closed loop over a list of pre-built requests, by this target's generator."""
        print(
            f"  running {name} ({self.generator.label}, {self.connections} connections, "
            f"{len(requests):,} distinct requests) ...",
            flush=True,
        )
        cpu_before = self.server_cpu()
        result = await self.generator.run(name, self.port, requests, self.duration, self.connections)
        result.server_cpu_seconds = _spent(cpu_before, self.server_cpu())
        print(
            f"  {name:<28} {result.throughput:>9,.0f} req/s  p99 {result.p99 * 1000:7.1f} ms  "
            f"statuses {dict(sorted(result.statuses.items()))}  socket errors {result.socket_errors}"
            f"{self.cpu_line(result.server_cpu_per_request_us)}",
            flush=True,
        )
        return result


def _spent(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


def bearer(fan: LoadTestFan, queue_token: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {fan.access_token}"}
    if queue_token:
        headers["X-Queue-Token"] = queue_token
    return headers


async def create_sale(
    services: Services, title: str, dates: int, seats: int, price: int, opens_at: datetime | None = None
) -> tuple[int, list[int], list[list[int]]]:
    """A concert open for reservation now (or from ``opens_at``: its fans who join before form a
    pre-queue): (concert id, schedule ids, seat ids per schedule)."""
    concert = await services.concerts.create_concert(ConcertIn(title=title))
    now = datetime.now(UTC)
    schedules, seat_ids = [], []
    for day in range(dates):
        created = await services.schedules.create_schedule(
            concert.id,
            ScheduleIn(
                starts_at=now + timedelta(days=10 + day),
                reservation_opens_at=opens_at or now - timedelta(minutes=5),
                reservation_closes_at=now + timedelta(days=9),
                price=price,
                seat_count=seats,
            ),
        )
        schedules.append(created.id)
        seat_ids.append([seat.id for seat in created.seats])
    return concert.id, schedules, seat_ids


async def admitted_tokens(target: Target, pool: Pool, fans: list[LoadTestFan], concert_id: int) -> list[str]:
    """Join the queue for every fan (through the API) and wait until all are admitted."""
    raws = [target.post(f"/api/v1/concerts/{concert_id}/queue/tokens", None, bearer(f)) for f in fans]
    responses = await asyncio.gather(*(pool.send(raw) for raw in raws))
    tokens = []
    for response in responses:
        body = response.json()
        assert isinstance(body, dict) and "token" in body, response.body
        tokens.append(str(body["token"]))
    pending = list(range(len(tokens)))
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        polls = await asyncio.gather(
            *(pool.send(target.get("/api/v1/queue/tokens/me", {"X-Queue-Token": tokens[i]})) for i in pending)
        )
        pending = [i for i, r in zip(pending, polls, strict=True) if _status_of(r) != "ACTIVE"]
        if pending:
            await asyncio.sleep(0.2)
    if pending:
        raise RuntimeError(f"{len(pending)} fans were not admitted within 60 s")
    return tokens


def _status_of(response: Response) -> str:
    body = response.json()
    return str(body.get("status")) if isinstance(body, dict) else ""


def issue_fans_for(duration: float) -> int:
    """Enough fans for one new fan per token-issue request: 1.5 x duration x 10,000 req/s."""
    return int(1.5 * max(1, round(duration)) * 10_000)


@dataclass
class EndpointResults:
    read_path: list[LoadResult]  # the names of READ_PATH_TARGETS, in that order
    charges: list[LoadResult]


async def endpoint_workloads(
    services: Services,
    target: Target,
    fans_count: int,
    issue_fans: int,
    gate_on: Callable[[], Awaitable[None]],
) -> EndpointResults:
    """Per-endpoint figures: healthz, token poll, dates, seats, token issue (the read path, against
    the floor) and charges. Every queue token is a real one, issued and admitted through the API.
    ``gate_on`` restarts the service with the proof-of-work gate on for joins (``GATED_JOINS``),
    for the last measurement: token issue with a solution in every request."""
    fans = await create_fans(services, fans_count, balance=1_000_000)
    concert_id, schedules, _ = await create_sale(services, "bench: endpoints", dates=3, seats=50, price=10_000)
    read = {"healthz": await target.drive("healthz", [target.get("/healthz")])}
    pool = Pool(HOST, target.port, min(64, target.connections))
    await pool.open()
    tokens = await admitted_tokens(target, pool, fans, concert_id)
    pool.close()
    polls = [target.get("/api/v1/queue/tokens/me", {"X-Queue-Token": t}) for t in tokens]
    read["token poll"] = await target.drive("token poll", polls)
    dates = [
        target.get(f"/api/v1/concerts/{concert_id}/schedules", bearer(f, t)) for f, t in zip(fans, tokens, strict=True)
    ]
    read["open dates"] = await target.drive("open dates", dates)
    seat_lists = [
        target.get(f"/api/v1/schedules/{schedules[i % 3]}/seats", bearer(f, t))
        for i, (f, t) in enumerate(zip(fans, tokens, strict=True))
    ]
    read["seat list"] = await target.drive("seat list", seat_lists)
    charges = [target.post(f"/api/v1/wallets/{f.wallet_id}/charges", {"amount": 1}, bearer(f)) for f in fans]
    charge_results = [
        await target.drive("charge (distinct wallets)", charges),
        await target.drive("charge (one hot wallet)", charges[:1]),
    ]
    # Token issue last: it ends with the proof-of-work gate on.

    read.update(await token_issue_workloads(services, target, issue_fans, gate_on))
    return EndpointResults([read[name] for name in READ_PATH_TARGETS], charge_results)


async def token_issue_workloads(
    services: Services, target: Target, issue_fans: int, gate_on: Callable[[], Awaitable[None]]
) -> dict[str, LoadResult]:
    """Token issue, then (after ``gate_on``) token issue with a proof-of-work solution in every
    join: one new fan per request, so that every answer is a 201 with a new token, not the 200 of
    a fan's live one. Each on a concert of its own."""
    read: dict[str, LoadResult] = {}
    started = time.perf_counter()
    issuers = await create_fans(services, issue_fans, balance=0)
    issue_concert, _, _ = await create_sale(services, "bench: token issue", dates=1, seats=50, price=10_000)
    print(f"  {issue_fans:,} fans for token issue created in {time.perf_counter() - started:.1f} s", flush=True)
    issue_path = f"/api/v1/concerts/{issue_concert}/queue/tokens"
    issue = await target.drive("token issue", [target.post(issue_path, None, bearer(f)) for f in issuers])
    if issue.requests > issue_fans:
        print(
            f"  note: token issue sent {issue.requests:,} requests for {issue_fans:,} fans: "
            f"{issue.requests - issue_fans:,} went to fans who already had a token (raise --issue-fans)",
            flush=True,
        )
    read["token issue"] = issue

    await gate_on()
    await target.warm_up([target.get("/healthz")])
    issuers = await create_fans(services, issue_fans, balance=0)
    gated_concert, _, _ = await create_sale(services, "bench: gated token issue", dates=1, seats=50, price=10_000)
    started = time.perf_counter()
    solutions = presolved_joins(services, gated_concert, issue_fans)
    print(
        f"  {issue_fans:,} join challenges solved at maxnumber {GATED_ISSUE_MAX_NUMBER} in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    gated_path = f"/api/v1/concerts/{gated_concert}/queue/tokens"
    gated = [
        target.post(gated_path, None, {**bearer(f), "X-Altcha": solution})
        for f, solution in zip(issuers, solutions, strict=True)
    ]
    read["token issue, proof-of-work on"] = await target.drive("token issue, proof-of-work on", gated)
    return read


@dataclass
class StrategyRun:
    hold: Recorder
    payment: Recorder
    hold_load: LoadResult | None = None  # the hold race by the run's generator
    # Live holds of a third date, (reservation, payer, concert), for the payment baseline
    statement_payments: list[tuple[int, int, int]] = field(default_factory=list)


async def strategy_workloads(
    services: Services, target: Target, fans_count: int, strategy: str, *, with_generator: bool = False
) -> StrategyRun:
    """Hold under contention (many fans, 50 seats) and payment of prepared holds. With
    ``with_generator``, the hold race is then driven once more by the run's generator (wrk when
    present): the same pre-built requests, by a client that is not itself the bottleneck — that
    is the figure the write target is judged on (the Python client tops out near the rate of a
    hold race, so its figure measures the client as much as the server); and every fan holds a
    seat of a third date, left for the payment baseline (``bench/speed.py``)."""
    fans = await create_fans(services, fans_count, balance=1_000_000)
    concert_id, _, seat_ids = await create_sale(
        services, f"bench: {strategy}", dates=3 if with_generator else 2, seats=max(50, fans_count), price=10_000
    )
    pool = Pool(HOST, target.port, min(64, target.connections))
    await pool.open()
    tokens = await admitted_tokens(target, pool, fans, concert_id)
    race_seats = seat_ids[0][:50]
    rng = random.Random(7)
    holds = [
        target.post("/api/v1/reservations", {"seat_id": rng.choice(race_seats)}, bearer(f, t))
        for f, t in zip(fans, tokens, strict=True)
    ]
    hold = await target.loop(f"hold race [{strategy}]", lambda i: holds[i % len(holds)])
    # Every seat of the race is taken by now, as it is a moment into the Python client's run:
    # the generator's run is the same all-but-the-winners-refused traffic.
    hold_load = await target.drive(f"hold race [{strategy}]", holds) if with_generator else None

    # Payment: each fan holds one seat of the second date, then all pay at once.
    prepared = await _hold_each(target, pool, fans, tokens, seat_ids[1])
    statement_payments = (
        [
            (reservation, fan.id, concert_id)
            for fan, _, reservation in await _hold_each(target, pool, fans, tokens, seat_ids[2])
        ]
        if with_generator
        else []
    )
    pool.close()
    payable = [
        target.post("/api/v1/payments", {"reservation_id": reservation}, bearer(fan, token))
        for fan, token, reservation in prepared
    ]
    payment = await target.loop(
        f"payment [{strategy}]", lambda i: payable[i], total=len(payable), duration=max(60.0, target.duration)
    )
    return StrategyRun(hold, payment, hold_load, statement_payments)


async def _hold_each(
    target: Target, pool: Pool, fans: list[LoadTestFan], tokens: list[str], seats: list[int]
) -> list[tuple[LoadTestFan, str, int]]:
    """Each fan holds one of ``seats`` (all at once): (fan, queue token, reservation) of each hold."""
    answers = await asyncio.gather(
        *(
            pool.send(target.post("/api/v1/reservations", {"seat_id": seat}, bearer(f, t)))
            for f, t, seat in zip(fans, tokens, seats, strict=False)
        )
    )
    held = []
    for fan, token, response in zip(fans, tokens, answers, strict=False):
        # A lost connection comes back as a bodiless 599: only a 201 has a body to read.
        body = response.json() if response.status == 201 else None
        if isinstance(body, dict):
            held.append((fan, token, int(body["id"])))
    return held


@dataclass
class SaleOutcome:
    fans: int
    seats: int
    bought: int = 0
    abandoned: int = 0
    sold_out_seen: int = 0
    gave_up: int = 0
    seconds: float = 0.0
    steps: dict[str, Recorder] = field(default_factory=dict)


class FlashSale:
    """N fans arrive at once: queue, get admitted, choose a seat, hold (retrying on conflict),
    pay or abandon (one in ten), until the concert is sold out."""

    def __init__(self, target: Target, concert_id: int, outcome: SaleOutcome, time_limit: float) -> None:
        self.target = target
        self.concert_id = concert_id
        self.outcome = outcome
        self.steps = outcome.steps
        self.pool = Pool(HOST, target.port, target.connections)
        self.rng = random.Random(11)
        self.started = time.perf_counter()
        self.deadline = self.started + time_limit

    async def run(self, fans: list[LoadTestFan]) -> None:
        await self.pool.open()
        ticker = asyncio.create_task(self._progress())
        try:
            await asyncio.gather(*(self.journey(fan) for fan in fans))
        finally:
            ticker.cancel()
            self.pool.close()

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(2)
            o = self.outcome
            print(
                f"    {time.perf_counter() - self.started:5.1f}s  bought {o.bought}  told sold out "
                f"{o.sold_out_seen}  abandoned {o.abandoned}  gave up {o.gave_up}",
                flush=True,
            )

    async def journey(self, fan: LoadTestFan) -> None:
        target, steps = self.target, self.steps
        joined = await self.pool.send(
            target.post(f"/api/v1/concerts/{self.concert_id}/queue/tokens", None, bearer(fan)), steps["join"]
        )
        if joined.status not in (200, 201):
            self.outcome.gave_up += 1
            return
        ticket = msgspec.json.decode(joined.body, type=QueueTokenOut)
        token, status = ticket.token, str(ticket.status)
        while status == "WAITING" and time.perf_counter() < self.deadline:
            await asyncio.sleep(0.5 + self.rng.random() * 0.5)
            polled = await self.pool.send(
                target.get("/api/v1/queue/tokens/me", {"X-Queue-Token": token}), steps["poll"]
            )
            status = _status_of(polled) if polled.status == 200 else "GONE"
        if status == "SOLD_OUT":
            self.outcome.sold_out_seen += 1
        elif status == "ACTIVE":
            await self.buy_a_seat(fan, token)
        else:
            self.outcome.gave_up += 1

    async def buy_a_seat(self, fan: LoadTestFan, token: str) -> None:
        target, steps, headers = self.target, self.steps, bearer(fan, token)
        for _ in range(5):
            listed = await self.pool.send(
                target.get(f"/api/v1/concerts/{self.concert_id}/schedules", headers), steps["dates"]
            )
            schedules = msgspec.json.decode(listed.body, type=list[ScheduleOut]) if listed.status == 200 else []
            if not schedules:
                self.outcome.sold_out_seen += 1
                return
            schedule = self.rng.choice(schedules)
            page = await self.pool.send(target.get(f"/api/v1/schedules/{schedule.id}/seats", headers), steps["seats"])
            seats = msgspec.json.decode(page.body, type=list[SeatOut]) if page.status == 200 else []
            free = [seat for seat in seats if seat.available]
            if not free:
                continue
            held = await self.pool.send(
                target.post("/api/v1/reservations", {"seat_id": self.rng.choice(free).id}, headers), steps["hold"]
            )
            if held.status != 201:
                continue  # someone was faster: choose again
            if self.rng.random() < 0.1:
                self.outcome.abandoned += 1  # walks away; the hold runs out and the seat returns
                return
            reservation = msgspec.json.decode(held.body, type=ReservationOut)
            paid = await self.pool.send(
                target.post(
                    "/api/v1/payments",
                    {"reservation_id": reservation.id},
                    {**headers, "Idempotency-Key": f"sale-{fan.id}"},
                ),
                steps["pay"],
            )
            if paid.status == 201:
                self.outcome.bought += 1
            return
        self.outcome.gave_up += 1


async def flash_sale(
    services: Services, target: Target, fans_count: int, dates: int, seats: int, time_limit: float
) -> SaleOutcome:
    fans = await create_fans(services, fans_count, balance=200_000)
    concert_id, _, _ = await create_sale(services, "bench: flash sale", dates=dates, seats=seats, price=50_000)
    outcome = SaleOutcome(fans=fans_count, seats=dates * seats)
    outcome.steps = {name: Recorder(name) for name in ("join", "poll", "dates", "seats", "hold", "pay")}
    print(f"  running flash sale: {fans_count:,} fans for {dates * seats} seats ...", flush=True)
    sale = FlashSale(target, concert_id, outcome, time_limit)
    await sale.run(fans)
    outcome.seconds = time.perf_counter() - sale.started
    for recorder in outcome.steps.values():
        recorder.finished = outcome.seconds
    return outcome


# The seat map's targets, as ratios to F_http of the same run, and its size limits.
VENUE_TARGETS: dict[str, float] = {
    "seat map (60,000 seats)": 0.5,
    "zone seats (1,000)": 0.4,
    "seat map 304": 0.6,
}
VENUE_SIZE_LIMITS = {"seat map (60,000 seats)": 8 * 1024, "zone seats (1,000)": 16 * 1024}
STADIUM_PRICES = {"VIP": 250_000, "R": 180_000, "S": 140_000, "A": 99_000}


@dataclass
class VenueResults:
    loads: list[LoadResult]  # the names of VENUE_TARGETS, in that order
    lines: list[str]  # what else was measured, for the report


async def venue_workloads(
    services: Services, target: Target, fans_count: int, sell_through_zones: int = 60
) -> VenueResults:
    """A 60,000-seat date (60 zones x 1,000 seats): the time to store the plan and to create the
    date, the seat-map summary and one zone's seats (brotli) as closed loops, a 304 loop, their
    sizes on the wire, and a best-available race (pairs of VIP, more asked than there are) with
    its invariants: no seat held twice, every answer all or nothing."""
    from ticketing.venues.service import etag_of

    stadium = await stadium_date(services, "bench stadium", zones=60)
    venue, date, stored, created = stadium.venue, stadium.date, stadium.stored, stadium.created
    concert = stadium.concert
    fans = await create_fans(services, fans_count, balance=0)
    pool = Pool(HOST, target.port, min(64, target.connections))
    await pool.open()
    try:
        tokens = await admitted_tokens(target, pool, fans, concert.id)
        pairs = list(zip(fans, tokens, strict=True))
        summary_path = f"/api/v1/schedules/{date.id}/seat-map"
        zone_paths = [f"/api/v1/schedules/{date.id}/zones/{zone.id}/seats" for zone in venue.zones]
        br = {"Accept-Encoding": "br"}
        sizes = {
            "seat map (60,000 seats)": len(
                (await pool.send(target.get(summary_path, {**br, **bearer(*pairs[0])}))).body
            ),
            "zone seats (1,000)": len((await pool.send(target.get(zone_paths[0], {**br, **bearer(*pairs[0])}))).body),
        }
        raw_zone = len((await pool.send(target.get(zone_paths[0], bearer(*pairs[0])))).body)
        summary_body = (await pool.send(target.get(summary_path, bearer(*pairs[0])))).body
        etag = etag_of(summary_body)
        loads = [
            await target.drive(
                "seat map (60,000 seats)", [target.get(summary_path, {**br, **bearer(f, t)}) for f, t in pairs]
            ),
            await target.drive(
                "zone seats (1,000)",
                [target.get(zone_paths[i % len(zone_paths)], {**br, **bearer(f, t)}) for i, (f, t) in enumerate(pairs)],
            ),
            await target.drive(
                "seat map 304",
                [target.get(summary_path, {**br, "If-None-Match": etag, **bearer(f, t)}) for f, t in pairs],
            ),
        ]
        loads[2].expected = frozenset({304})  # the answer it asks for (a 200 only if the ETag moved on)
        race_fans = pairs[:200]
        answers = await asyncio.gather(
            *(
                pool.send(
                    target.post(
                        "/api/v1/reservations", {"schedule_id": date.id, "class": "VIP", "quantity": 2}, bearer(f, t)
                    )
                )
                for f, t in race_fans
            )
        )
    finally:
        pool.close()
    held: list[int] = []
    partial = 0
    for answer in answers:
        if answer.status == 201:
            body = answer.json()
            items = body.get("items", []) if isinstance(body, dict) else []
            held += [int(item["seat_id"]) for item in items]
            partial += len(items) != 2
    codes = sorted({answer.code for answer in answers})
    lines = [
        f"60,000-seat date (60 zones x 1,000 seats): plan stored in {stored:.2f} s, date created in {created:.2f} s "
        f"(target <= 3 s). On the wire with br: seat map {sizes['seat map (60,000 seats)']:,} B (target <= 8 KB), "
        f"a zone {sizes['zone seats (1,000)']:,} B (target <= 16 KB; {raw_zone:,} B uncompressed).",
        f"Best available, {len(race_fans)} fans at once asking for a pair of VIP: {len(held) // 2} held, "
        f"answers {codes}; seats held twice: {len(held) - len(set(held))}; partial answers: {partial}.",
    ]
    lines += await sell_through(services, target, fans_count, sell_through_zones)
    for line in lines:
        print(f"  {line}", flush=True)
    return VenueResults(loads, lines)


# Nothing grows with the seats sold: the rates in the last 1 % of a sale against the
# first 1 %, each at least this.
SELL_THROUGH_TARGET = 0.8
SELL_THROUGH_READ_SECONDS = 5.0
SELL_THROUGH_BATCH = 2_000  # seats sold in the database per statement (each within the statement timeout)


async def _timed(pool: Pool, name: str, raws: Sequence[bytes]) -> tuple[Recorder, list[Response]]:
    """Send every request at once over the pool's connections; the rate is requests over the
    time from the first sent to the last answered."""
    recorder = Recorder(name)
    recorder.started = time.perf_counter()
    responses = await asyncio.gather(*(pool.send(raw, recorder) for raw in raws))
    recorder.close()
    return recorder, list(responses)


@dataclass
class StadiumDate:
    venue: VenueOut
    concert: ConcertOut
    date: ScheduleCreatedOut
    stored: float  # seconds to store the plan
    created: float  # seconds to create the date on it


async def stadium_date(services: Services, name: str, zones: int) -> StadiumDate:
    """A venue of ``zones`` zones of 1,000 seats (20 rows of 50) and a date on it, open for
    sale, on a concert of its own; with the time each took."""
    from ticketing.venues.example import hall_plan
    from ticketing.venues.schemas import VenueIn

    started = time.perf_counter()
    plan = hall_plan("Stadium", zones=zones, rows=20, seats_per_row=50, per_line=10)
    venue = await services.venues.create_venue(VenueIn(name=name, plan=plan))
    stored = time.perf_counter() - started
    concert = await services.concerts.create_concert(ConcertIn(title=f"bench: {name}"))
    now = datetime.now(UTC)
    started = time.perf_counter()
    date = await services.schedules.create_schedule(
        concert.id,
        ScheduleIn(
            starts_at=now + timedelta(days=10),
            reservation_opens_at=now - timedelta(minutes=5),
            reservation_closes_at=now + timedelta(days=9),
            venue_id=venue.id,
            prices=STADIUM_PRICES,
        ),
    )
    return StadiumDate(venue, concert, date, stored, time.perf_counter() - started)


async def _sell_in_database(services: Services, schedule_id: int, kept: list[int], buyer: LoadTestFan) -> int:
    """Every free seat of the date but ``kept``, sold to ``buyer`` batch by batch; how many."""
    sold = 0
    while True:
        async with services.uow() as uow:
            batch = await uow.repo(BenchRepository).sell_all_but(
                schedule_id, kept, buyer.id, buyer.wallet_id, SELL_THROUGH_BATCH
            )
            await uow.commit()
        if not batch:
            return sold
        sold += batch


async def sell_through(services: Services, target: Target, fans_count: int, zones: int) -> list[str]:
    """A date of ``zones`` x 1,000 seats on a concert of its own, measured in its first 1 % and
    in its last: fans hold one seat each then pay (all at once over the pool), then the seat map
    and the zones are read in closed loops. Between the two, every seat but the last 1 % is sold
    straight in the database (``BenchRepository.sell_all_but``: a CONFIRMED reservation, a PAID
    payment, a ticket and ledger rows for each, so the invariants hold), and the last 1 % is sold
    through the API: the date ends sold out, the last payments being those of a full stadium."""
    stadium = await stadium_date(services, "bench sell-through", zones)
    venue, concert, date = stadium.venue, stadium.concert, stadium.date
    share = zones * 1_000 // 100  # 1 % of the date's seats, one seat per fan
    # A payment finishes its fan's queue token: the first 1 %'s buyers, the last 1 %'s, and the
    # fans who only read (``fans_count``), each group its own.
    fans = await create_fans(services, 2 * share + fans_count, balance=1_000_000)
    [buyer] = await create_fans(services, 1, balance=0)
    reads = replace(target, duration=min(target.duration, SELL_THROUGH_READ_SECONDS))
    pool = Pool(HOST, target.port, min(64, target.connections))
    await pool.open()
    try:
        pairs = list(zip(fans, await admitted_tokens(target, pool, fans, concert.id), strict=True))
        zone_paths = [f"/api/v1/schedules/{date.id}/zones/{zone.id}/seats" for zone in venue.zones]
        seat_ids: list[int] = []
        for path in zone_paths:
            body = (await pool.send(target.get(path, bearer(*pairs[0])))).json()
            assert isinstance(body, dict), body
            seat_ids += [int(seat["id"]) for seat in body["seats"]]
        summary_path = f"/api/v1/schedules/{date.id}/seat-map"
        br = {"Accept-Encoding": "br"}

        readers = pairs[2 * share :]

        async def phase(label: str, buyers: list[tuple[LoadTestFan, str]], seats: list[int]) -> dict[str, float]:
            raws = [
                target.post("/api/v1/reservations", {"seat_id": seat}, bearer(f, t))
                for (f, t), seat in zip(buyers, seats, strict=True)
            ]
            holds, held = await _timed(pool, f"hold, {label}", raws)
            payable = []
            for (fan, token), answer in zip(buyers, held, strict=True):
                body = answer.json() if answer.status == 201 else None
                if isinstance(body, dict):
                    payable.append(target.post("/api/v1/payments", {"reservation_id": body["id"]}, bearer(fan, token)))
            payments, _ = await _timed(pool, f"payment, {label}", payable)
            seat_map = await reads.drive(
                f"seat map, {label}", [target.get(summary_path, {**br, **bearer(f, t)}) for f, t in readers]
            )
            zone = await reads.drive(
                f"zone seats, {label}",
                [
                    target.get(zone_paths[i % len(zone_paths)], {**br, **bearer(f, t)})
                    for i, (f, t) in enumerate(readers)
                ],
            )
            for recorder in (holds, payments):
                print(
                    f"  {recorder.name:<28} {recorder.throughput:>9,.0f} req/s  "
                    f"p99 {recorder.percentile(0.99) * 1000:7.1f} ms  {dict(recorder.codes)}",
                    flush=True,
                )
            return {
                "holds": holds.throughput,
                "payments": payments.throughput,
                "seat map": seat_map.throughput,
                "zone seats": zone.throughput,
                "paid": float(payments.statuses.get(201, 0)),
            }

        first = await phase("first 1 %", pairs[:share], seat_ids[:share])
        kept = seat_ids[-share:]
        started = time.perf_counter()
        sold = await _sell_in_database(services, date.id, kept, buyer)
        marked = time.perf_counter() - started
        print(f"  {sold:,} seats sold in the database in {marked:.1f} s", flush=True)
        await asyncio.sleep(services.settings.seat_cache_seconds + 0.5)  # every process's caches moved on
        pool.close()  # idle through the sale in the database: the server has closed them
        pool = Pool(HOST, target.port, min(64, target.connections))
        await pool.open()
        last = await phase("last 1 %", pairs[share : 2 * share], kept)
    finally:
        pool.close()
    total = len(seat_ids)
    sold_at_end = int(first["paid"]) + sold + int(last["paid"])
    parts = []
    for name in ("payments", "holds", "seat map", "zone seats"):
        ratio = last[name] / first[name] if first[name] else 0.0
        verdict = "PASS" if ratio >= SELL_THROUGH_TARGET else "SHORT"
        parts.append(f"{name} {first[name]:,.0f} -> {last[name]:,.0f}/s ({ratio:.2f}, {verdict})")
    return [
        f"Sell-through of a {total:,}-seat date ({share:,} fans a phase; last 1 % against first 1 %, "
        f"target >= {SELL_THROUGH_TARGET}): " + "; ".join(parts) + f". {sold:,} seats sold in the database "
        f"between the phases in {marked:.1f} s; {sold_at_end:,} of {total:,} sold at the end."
    ]

"""Fairness under bots: does the fair start give a fan who behaves like the page the
same chance of a seat as a bot?

One sale: a concert with one date of S seats whose sale opens a few seconds ahead; F fans and B
bots (one fresh account each, a funded wallet, everyone wants one seat, S < F + B) all join the
queue before the opening, so everyone is in the pre-queue and the draw orders them. Then:

- a **fan** does what the queue page (``web/static/app.js``) does: after joining it polls at once,
  then honours ``poll_after_ms`` (before the opening the service wakes each pre-queued fan at
  their own moment of the first third of the grace period after it, by arrival number); on an
  error it waits twice as long (at most 10 s). Once ``ACTIVE`` it loads the dates and the seat
  map (refreshed every 3 s, as the page does), chooses for a uniform 2-5 s, holds a random seat
  the map shows free; on 409 ``SEAT_UNAVAILABLE`` it looks again after a human 0.5-1.5 s at a
  fresh map; with a hold it clicks "pay" 0.5-1.5 s later. The service pushes nothing (no SSE,
  no WebSocket): polling is all the page does.
- a **bot** polls every 50 ms ignoring ``poll_after_ms`` (from 1 s before the ``sale_opens_at``
  the join told it: polling earlier gains nothing and would only load this 2-core machine's
  client), and the instant it is ``ACTIVE`` loads the dates and seats and holds a random free
  seat, at once again with a fresh list on 409, and pays at once. There is no challenge to solve
  (the service has no proof-of-work gate).

Each simulated client has its own keep-alive connection, as a browser has, so no client waits for
another's request. A client is done when it paid, or saw that no seat is left (``SOLD_OUT``, no
open date, or a seat map with nothing free), or at the sale's time limit. Who got a seat is read
from the database (and must agree with what the clients saw).

fan chance = fans with a seat / F, bot chance = bots with a seat / B, and the figure is their
ratio (1.0 = fair). The draw is a lottery, so one sale's ratio is noisy: with a perfectly fair
draw the bots among the S winners are hypergeometric (N = F + B, B of them bots), and at F = 400,
B = 100, S = 250 one standard deviation of that moves the ratio by about 0.11. So each B is run R
times (fresh accounts and concert each time) and the table shows the pooled ratio (all sales'
winners over all sales' clients) and the per-sale range, next to the spread a fair draw would
have (``fair_ratio_sd``).

The service runs with the production queue settings (the defaults: 1,000 active, 200 admissions/s)
and the production per-account limits on joins and holds; only the per-address limits are lifted
(every simulated client comes from 127.0.0.1). The accounts are created set-based with funded
wallets and signed access tokens (``bench.fixtures.create_fans``) before the sale, so sign-up,
sign-in and charge cost the sale nothing and no rate limit has to be raised for them.
"""

from __future__ import annotations

import asyncio
import math
import random
import resource
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from bench.client import Connection, Response
from bench.fixtures import LoadTestFan, create_fans
from bench.repository import BenchRepository
from bench.server import ServiceUnderTest
from bench.workloads import HOST, Target, bearer, create_sale
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.reservations.schemas import ReservationOut
from ticketing.schedules.schemas import ScheduleOut, SeatOut
from ticketing.waiting_room.schemas import QueueTokenInfoOut, QueueTokenOut

FAIRNESS_TARGET = 0.9  # a fan's chance of a seat over a bot's chance: at least this
TARGET_BOTS = 100  # the row the target is set for (F = 400, B = 100, S = 250)
BOT_COUNTS = (10, 50, 100, 200)
PRICE = 50_000
BALANCE = 100_000  # one seat's worth and change: everyone wants one seat

# The page's timings (web/static/app.js) and a human's.
PAGE_FIRST_RETRY_MS = 1000  # the poll's first back-off after an error, doubled up to 10 s
PAGE_MAX_RETRY_MS = 10_000
PAGE_DEFAULT_POLL_MS = 2000  # `info.poll_after_ms || 2000`
SEAT_MAP_REFRESH = 3.0  # the seat map is read again every 3 s while the fan looks at it
CHOOSING = (2.0, 5.0)  # seconds a fan takes to choose a seat
RECONSIDER = (0.5, 1.5)  # after "seat taken", before the next pick
CLICK_PAY = (0.5, 1.5)  # from the hold to the click on "pay"
HOLD_ATTEMPTS = 30  # a fan's (or bot's) picks before giving up with seats still listed free
CPU_SAMPLE = 0.5  # seconds per sample of the client process's CPU (the peak is reported)
# Bots
BOT_POLL = 0.05
BOT_EARLY = 1.0  # a bot starts its 50 ms polling this long before the opening


# The service's settings during the phase: production's queue and per-account limits; only the
# per-address limits (everyone is 127.0.0.1) stay lifted by the harness (bench/server.py).
def production_queue_settings() -> dict[str, object]:
    names = (
        "queue_max_active",
        "queue_admit_per_second",
        "queue_active_ttl_seconds",
        "queue_waiting_grace_seconds",
        "queue_snapshot_seconds",
        "hold_seconds",
        "max_holds_per_user",
        "rate_limit_queue_join_per_account",
        "rate_limit_hold_per_account",
    )
    return {name: Settings.model_fields[name].default for name in names}


# ---------------------------------------------------------------- the arithmetic (pure)


def chance_ratio(fan_winners: int, fans: int, bot_winners: int, bots: int) -> float:
    """A fan's chance of a seat over a bot's (1.0 = fair; inf when no bot got one but a fan did;
    nan when nobody got one)."""
    fan_chance = fan_winners / fans if fans else 0.0
    bot_chance = bot_winners / bots if bots else 0.0
    if bot_chance == 0:
        return math.inf if fan_chance > 0 else math.nan
    return fan_chance / bot_chance


def fair_ratio_sd(fans: int, bots: int, seats: int, sales: int = 1) -> float:
    """The standard deviation of the (pooled) ratio if the draw were perfectly fair: every client
    equally likely to win, so the bots among a sale's S winners are hypergeometric (population
    F + B, B bots, S drawn); the ratio B (S - X) / (F X) is linearised at the mean of X (the delta
    method: at F = 400, S = 250 within 8 % of the exact figure for B >= 50, a little low), and R
    independent sales divide the variance by R."""
    population = fans + bots
    if not (fans and bots and 0 < seats < population):
        return 0.0
    variance = seats * (bots / population) * (fans / population) * (population - seats) / (population - 1)
    slope = population**2 / (fans * seats * bots)  # |d ratio / d X| at X = S B / N
    return slope * math.sqrt(variance / max(1, sales))


def passes(ratio: float, target: float = FAIRNESS_TARGET) -> bool:
    """PASS when the fans' chance is at least ``target`` of the bots' (a bot-free outcome passes)."""
    return not math.isnan(ratio) and ratio >= target


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- one sale's outcome


@dataclass
class SaleResult:
    fans: int
    bots: int
    seats: int
    fan_winners: int = 0
    bot_winners: int = 0
    sold_out_after: float | None = None  # seconds from the opening to the last seat paid
    seconds: float = 0.0  # from the opening until every client was done
    fan_admitted: list[float] = field(default_factory=list)  # seconds from the opening, as seen
    bot_admitted: list[float] = field(default_factory=list)
    fan_held: list[float] = field(default_factory=list)  # seconds from the opening to the hold's 201
    bot_held: list[float] = field(default_factory=list)
    client_cpu: float = 0.0  # this process's CPU seconds over the sale (all clients), and its wall time
    client_wall: float = 0.0
    client_peak: float = 0.0  # the busiest CPU_SAMPLE seconds' share of one core
    requests: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # by step and code, other than 2xx
    server_errors: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return chance_ratio(self.fan_winners, self.fans, self.bot_winners, self.bots)

    @property
    def cpu_share(self) -> float:
        """The client process's CPU over the sale, as a fraction of one core."""
        return self.client_cpu / self.client_wall if self.client_wall else 0.0


@dataclass
class FairnessRow:
    """Every sale of one B, pooled."""

    sales: list[SaleResult]

    @property
    def fans(self) -> int:
        return self.sales[0].fans

    @property
    def bots(self) -> int:
        return self.sales[0].bots

    @property
    def seats(self) -> int:
        return self.sales[0].seats

    @property
    def fan_chance(self) -> float:
        return sum(s.fan_winners for s in self.sales) / sum(s.fans for s in self.sales)

    @property
    def bot_chance(self) -> float:
        return sum(s.bot_winners for s in self.sales) / sum(s.bots for s in self.sales)

    @property
    def ratio(self) -> float:
        """Pooled: all sales' fan winners over all their fans, against the same for the bots."""
        return chance_ratio(
            sum(s.fan_winners for s in self.sales),
            sum(s.fans for s in self.sales),
            sum(s.bot_winners for s in self.sales),
            sum(s.bots for s in self.sales),
        )

    @property
    def fair_sd(self) -> float:
        return fair_ratio_sd(self.fans, self.bots, self.seats, len(self.sales))

    @property
    def passed(self) -> bool:
        return passes(self.ratio)

    @property
    def violations(self) -> list[str]:
        return [v for s in self.sales for v in s.violations]

    @property
    def server_errors(self) -> int:
        return sum(s.server_errors for s in self.sales)


def _ratio_text(ratio: float) -> str:
    return "—" if math.isnan(ratio) else "∞" if math.isinf(ratio) else f"{ratio:.2f}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def fairness_table(rows: Sequence[FairnessRow], target: float = FAIRNESS_TARGET) -> str:
    lines = [
        "| F | B | S | sales | fans with a seat | bots with a seat | fan chance | bot chance | ratio (pooled) "
        "| per sale | fair draw ± | verdict (≥ 0.9) | sold out s | admitted seen s, fan / bot | hold s, fan / bot "
        "| client CPU mean / peak |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---|---|---|",
    ]
    for row in rows:
        sales = row.sales
        sold_out = [s.sold_out_after for s in sales if s.sold_out_after is not None]
        fan_seen = median([v for s in sales for v in s.fan_admitted])
        bot_seen = median([v for s in sales for v in s.bot_admitted])
        fan_hold = median([v for s in sales for v in s.fan_held])
        bot_hold = median([v for s in sales for v in s.bot_held])
        per_sale = ", ".join(_ratio_text(s.ratio) for s in sales)
        verdict = "PASS" if passes(row.ratio, target) else "**SHORT**"
        cpu, peak = max(s.cpu_share for s in sales), max(s.client_peak for s in sales)
        lines.append(
            f"| {row.fans} | {row.bots} | {row.seats} | {len(sales)} | "
            f"{sum(s.fan_winners for s in sales)} / {sum(s.fans for s in sales)} | "
            f"{sum(s.bot_winners for s in sales)} / {sum(s.bots for s in sales)} | "
            f"{row.fan_chance:.2f} | {row.bot_chance:.2f} | {_ratio_text(row.ratio)} | {per_sale} | "
            f"{row.fair_sd:.2f} | {verdict} | {_seconds(median(sold_out))} | "
            f"{_seconds(fan_seen)} / {_seconds(bot_seen)} | {_seconds(fan_hold)} / {_seconds(bot_hold)} | "
            f"{cpu:.0%} / {peak:.0%} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the simulated clients


class Link:
    """One client's keep-alive connection (a browser's, or a bot's), opened again once if the
    server closed it while the client was idle."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: Connection | None = None

    async def open(self) -> None:
        self.conn = await Connection.open(HOST, self.port)

    async def send(self, raw: bytes) -> Response:
        for attempt in range(2):
            if self.conn is None:
                self.conn = await Connection.open(HOST, self.port)
            try:
                return await self.conn.send(raw)
            except (OSError, asyncio.IncompleteReadError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Client:
    account: LoadTestFan
    bot: bool
    link: Link
    token: str = ""
    opens_at: float = 0.0  # the sale's opening (epoch seconds) the join told
    joined: QueueTokenOut | None = None
    admitted_at: float | None = None
    held_at: float | None = None
    paid_at: float | None = None
    outcome: str = ""


class Sale:
    def __init__(
        self, target: Target, concert_id: int, schedule_id: int, opens_at: float, result: SaleResult, seed: int
    ) -> None:
        self.target = target
        self.concert_id = concert_id
        self.schedule_id = schedule_id
        self.opens_at = opens_at
        self.result = result
        self.rng = random.Random(seed)
        self.deadline = math.inf

    async def send(self, client: Client, step: str, raw: bytes) -> Response:
        self.result.requests += 1
        try:
            response = await client.link.send(raw)
        except (OSError, asyncio.IncompleteReadError):
            response = Response(599, b"")
        if response.status >= 300:
            self.result.answers[f"{step} {response.code}"] += 1
        if response.status >= 500:
            self.result.server_errors += 1
        return response

    def _headers(self, client: Client) -> dict[str, str]:
        return bearer(client.account, client.token)

    async def join(self, client: Client) -> None:
        path = f"/api/v1/concerts/{self.concert_id}/queue/tokens"
        response = await self.send(client, "join", self.target.post(path, None, bearer(client.account)))
        if response.status not in (200, 201):
            client.outcome = f"join {response.code}"
            return
        client.joined = msgspec.json.decode(response.body, type=QueueTokenOut)
        client.token = client.joined.token
        opens = client.joined.sale_opens_at
        client.opens_at = opens.timestamp() if opens is not None else self.opens_at

    async def poll(self, client: Client) -> QueueTokenInfoOut | None:
        raw = self.target.get("/api/v1/queue/tokens/me", {"X-Queue-Token": client.token})
        response = await self.send(client, "poll", raw)
        return msgspec.json.decode(response.body, type=QueueTokenInfoOut) if response.status == 200 else None

    # -- the page

    async def fan(self, client: Client) -> None:
        if await self.page_waits(client) and await self.open_dates(client):
            await self.page_buys(client)

    async def page_waits(self, client: Client) -> bool:
        """waitInQueue: poll at once, then when the service says (twice as long after an error);
        True once the fan sees ACTIVE."""
        delay_ms = PAGE_FIRST_RETRY_MS
        while time.time() < self.deadline:
            info = await self.poll(client)
            if info is None:
                delay_ms = min(PAGE_MAX_RETRY_MS, delay_ms * 2)
            elif info.status == "ACTIVE":
                client.admitted_at = time.time()
                return True
            elif info.status != "WAITING":
                client.outcome = "told sold out" if info.status == "SOLD_OUT" else f"token {info.status}"
                return False
            else:
                delay_ms = info.poll_after_ms or PAGE_DEFAULT_POLL_MS
            await asyncio.sleep(delay_ms / 1000)
        client.outcome = "time limit"
        return False

    async def page_buys(self, client: Client) -> None:
        """The seat map: choose (the map read again every 3 s), hold, pay; look again on 409."""
        seats = await self.seat_map(client)
        choose_until = time.monotonic() + self.rng.uniform(*CHOOSING)
        next_read = time.monotonic() + SEAT_MAP_REFRESH
        while (now := time.monotonic()) < choose_until:
            await asyncio.sleep(min(choose_until, next_read) - now)
            if next_read <= time.monotonic() < choose_until:
                seats = await self.seat_map(client)
                next_read += SEAT_MAP_REFRESH
        for _ in range(HOLD_ATTEMPTS):
            free = [seat.id for seat in seats if seat.available]
            if not free:
                client.outcome = "no seat left"
                return
            reservation = await self.hold(client, self.rng.choice(free))
            if reservation is not None:
                await asyncio.sleep(self.rng.uniform(*CLICK_PAY))
                await self.pay(client, reservation)
                return
            if client.outcome:
                return
            await asyncio.sleep(self.rng.uniform(*RECONSIDER))
            seats = await self.seat_map(client)
        client.outcome = "gave up"

    # -- the bot

    async def bot(self, client: Client) -> None:
        await asyncio.sleep(max(0.0, client.opens_at - BOT_EARLY - time.time()))
        while True:
            if time.time() > self.deadline:
                client.outcome = "time limit"
                return
            info = await self.poll(client)
            if info is not None and info.status == "ACTIVE":
                client.admitted_at = time.time()
                break
            if info is not None and info.status != "WAITING":
                client.outcome = "told sold out" if info.status == "SOLD_OUT" else f"token {info.status}"
                return
            await asyncio.sleep(BOT_POLL)
        if not await self.open_dates(client):
            return
        for _ in range(HOLD_ATTEMPTS):
            free = [seat.id for seat in await self.seat_map(client) if seat.available]
            if not free:
                client.outcome = "no seat left"
                return
            reservation = await self.hold(client, self.rng.choice(free))
            if reservation is not None:
                await self.pay(client, reservation)
                return
            if client.outcome:
                return
        client.outcome = "gave up"

    # -- steps both take

    async def open_dates(self, client: Client) -> bool:
        raw = self.target.get(f"/api/v1/concerts/{self.concert_id}/schedules", self._headers(client))
        response = await self.send(client, "dates", raw)
        dates = msgspec.json.decode(response.body, type=list[ScheduleOut]) if response.status == 200 else []
        if not any(date.id == self.schedule_id for date in dates):
            client.outcome = "no open date" if response.status == 200 else f"dates {response.code}"
            return False
        return True

    async def seat_map(self, client: Client) -> list[SeatOut]:
        raw = self.target.get(f"/api/v1/schedules/{self.schedule_id}/seats", self._headers(client))
        response = await self.send(client, "seats", raw)
        return msgspec.json.decode(response.body, type=list[SeatOut]) if response.status == 200 else []

    async def hold(self, client: Client, seat_id: int) -> ReservationOut | None:
        """The reservation, or None to pick again (the outcome set when there is no point)."""
        raw = self.target.post("/api/v1/reservations", {"seat_id": seat_id}, self._headers(client))
        response = await self.send(client, "hold", raw)
        if response.status == 201:
            client.held_at = time.time()
            return msgspec.json.decode(response.body, type=ReservationOut)
        if response.status in (401, 403):  # the token is finished or not this client's: no point
            client.outcome = f"hold {response.code}"
        elif response.status == 429:  # a per-account limit: come back a second later
            await asyncio.sleep(1.0)
        elif response.code != "SEAT_UNAVAILABLE":  # anything else (a 5xx is counted): a moment, then again
            await asyncio.sleep(BOT_POLL if client.bot else self.rng.uniform(*RECONSIDER))
        return None

    async def pay(self, client: Client, reservation: ReservationOut) -> None:
        headers = {**self._headers(client), "Idempotency-Key": f"fair-{client.account.id}"}
        raw = self.target.post("/api/v1/payments", {"reservation_id": reservation.id}, headers)
        for _ in range(3):
            response = await self.send(client, "pay", raw)
            if response.status == 201:
                client.paid_at = time.time()
                client.outcome = "seat"
                return
            if response.status < 500:
                break
        client.outcome = f"pay {response.code}"

    async def run(self, clients: list[Client]) -> None:
        async def one(client: Client) -> None:
            if not client.outcome:
                await (self.bot(client) if client.bot else self.fan(client))

        await asyncio.gather(*(one(client) for client in clients))


# ---------------------------------------------------------------- the phase


@dataclass
class FairnessOptions:
    fans: int = 400
    bots: tuple[int, ...] = BOT_COUNTS
    seats: int = 250
    sales: int = 3  # per B
    lead_seconds: float = 6.0  # from the concert's creation to its opening: everyone joins first
    time_limit: float = 120.0  # per sale, from the opening

    @classmethod
    def smoke(cls) -> FairnessOptions:
        return cls(fans=40, bots=(10,), seats=25, sales=1, lead_seconds=3.0, time_limit=60.0)


async def _open_links(links: list[Link], at_once: int = 100) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(link: Link) -> None:
        async with gate:
            await link.open()

    await asyncio.gather(*(one(link) for link in links))


async def run_sale(
    services: Services, target: Target, fans: int, bots: int, seats: int, options: FairnessOptions, seed: int
) -> SaleResult:
    result = SaleResult(fans=fans, bots=bots, seats=seats)
    rng = random.Random(seed)
    accounts = await create_fans(services, fans + bots, balance=BALANCE)
    clients = [Client(account, bot=index >= fans, link=Link(target.port)) for index, account in enumerate(accounts)]
    rng.shuffle(clients)  # fans and bots join interleaved
    await _open_links([client.link for client in clients])
    opens = datetime.now(UTC) + timedelta(seconds=options.lead_seconds)
    concert_id, [schedule_id], [seat_ids] = await create_sale(
        services, f"bench: fairness B={bots}", dates=1, seats=seats, price=PRICE, opens_at=opens
    )
    opens_at = opens.timestamp()
    sale = Sale(target, concert_id, schedule_id, opens_at, result, seed)
    await asyncio.gather(*(sale.join(client) for client in clients))
    late = [c for c in clients if c.joined is None or not c.joined.pre_queue]
    if late or time.time() >= opens_at:
        result.violations.append(
            f"{len(late)} clients not in the pre-queue (joins took until {time.time() - opens_at:+.2f} s from "
            "the opening; raise the lead)"
        )
    cpu_before, wall_before = _cpu_seconds(), time.perf_counter()
    sale.deadline = opens_at + options.time_limit
    sampler = asyncio.create_task(_sample_cpu(result))
    try:
        await sale.run(clients)
    finally:
        sampler.cancel()
        for client in clients:
            client.link.close()
    result.client_cpu = _cpu_seconds() - cpu_before
    result.client_wall = time.perf_counter() - wall_before
    result.seconds = time.time() - opens_at
    _tally(result, clients, opens_at)
    await _check(services, result, clients, seat_ids)
    return result


async def _sample_cpu(result: SaleResult) -> None:
    """The peak share of one core the client process used over any CPU_SAMPLE seconds: the bots'
    polls and the admissions come in a burst at the opening, which a sale's mean would hide."""
    cpu, wall = _cpu_seconds(), time.perf_counter()
    while True:
        await asyncio.sleep(CPU_SAMPLE)
        now_cpu, now_wall = _cpu_seconds(), time.perf_counter()
        result.client_peak = max(result.client_peak, (now_cpu - cpu) / (now_wall - wall))
        cpu, wall = now_cpu, now_wall


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _tally(result: SaleResult, clients: list[Client], opens_at: float) -> None:
    paid = []
    for client in clients:
        result.outcomes[f"{'bot' if client.bot else 'fan'}: {client.outcome or 'unfinished'}"] += 1
        if client.admitted_at is not None:
            (result.bot_admitted if client.bot else result.fan_admitted).append(client.admitted_at - opens_at)
        if client.held_at is not None and client.outcome == "seat":
            (result.bot_held if client.bot else result.fan_held).append(client.held_at - opens_at)
        if client.paid_at is not None:
            paid.append(client.paid_at - opens_at)
    if len(paid) >= result.seats:
        result.sold_out_after = max(paid)


async def _check(services: Services, result: SaleResult, clients: list[Client], seat_ids: list[int]) -> None:
    """Who got a seat, from the database (a paid, CONFIRMED reservation): it must be whom the
    clients saw paying, one seat each, and no seat may be held or sold twice."""
    async with services.uow() as uow:
        repo = uow.repo(BenchRepository)
        by_user = Counter(await repo.buyers(seat_ids))
        double = await repo.double_holds(seat_ids)
    paid = {client.account.id for client in clients if client.outcome == "seat"}
    bots = {client.account.id for client in clients if client.bot}
    result.bot_winners = sum(1 for user in by_user if user in bots)
    result.fan_winners = len(by_user) - result.bot_winners
    if double:
        result.violations.append(f"{double} seats held or sold twice")
    if more := [user for user, n in by_user.items() if n > 1]:
        result.violations.append(f"{len(more)} clients with more than one seat")
    if set(by_user) != paid:
        result.violations.append(
            f"the database's buyers and the clients who paid differ ({len(set(by_user) - paid)} buyers did not "
            f"see their payment, {len(paid - set(by_user))} payers bought nothing)"
        )


async def fairness_phase(
    services: Services, service: ServiceUnderTest, target: Target, options: FairnessOptions
) -> list[FairnessRow]:
    settings = production_queue_settings()
    print(
        f"phase 3b: fairness under bots (F = {options.fans}, S = {options.seats}, B = "
        f"{', '.join(map(str, options.bots))}; {options.sales} sale(s) each; queue "
        f"{settings['queue_max_active']:,} active, {settings['queue_admit_per_second']}/s)",
        flush=True,
    )
    service.start(**settings)
    rows = []
    try:
        for bots in options.bots:
            sales = []
            for index in range(options.sales):
                result = await run_sale(
                    services, target, options.fans, bots, options.seats, options, 1000 * bots + index
                )
                sales.append(result)
                print(
                    f"  B={bots} sale {index + 1}: fans {result.fan_winners}/{result.fans}, bots "
                    f"{result.bot_winners}/{result.bots}, ratio {_ratio_text(result.ratio)}, sold out "
                    f"{_seconds(result.sold_out_after)} s, client CPU {result.cpu_share:.0%} of a core (peak "
                    f"{result.client_peak:.0%}), "
                    f"{result.requests:,} requests{'; ' + '; '.join(result.violations) if result.violations else ''}",
                    flush=True,
                )
            rows.append(FairnessRow(sales))
    finally:
        service.stop()
    print("\nFairness under bots:\n" + fairness_table(rows), flush=True)
    return rows


def fairness_lines(rows: Sequence[FairnessRow], options: FairnessOptions) -> list[str]:
    if not rows:
        return []
    target_row = next((row for row in rows if row.bots == TARGET_BOTS), None)
    answers: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for row in rows:
        for sale in row.sales:
            answers.update(sale.answers)
            outcomes.update(sale.outcomes)
    settings = production_queue_settings()
    return [
        "## Fairness under bots",
        "",
        f"F fans who behave like the queue page and B bots, one fresh account each, all join the pre-queue of a "
        f"sale of S seats that opens {options.lead_seconds:g} s after the concert is created; everyone wants one "
        "seat. Fans poll when `poll_after_ms` says, choose for 2-5 s (the seat map read every 3 s), hold a random "
        "free seat (on 409 they look again after 0.5-1.5 s) and pay 0.5-1.5 s later; bots poll every 50 ms "
        "ignoring `poll_after_ms` and hold and pay the instant they are admitted. The service runs with the "
        f"production queue settings ({settings['queue_max_active']:,} active, {settings['queue_admit_per_second']} "
        "admissions/s) and per-account limits. Ratio = (fans with a seat / F) / (bots with a seat / B), fair = "
        f"1.0, target ≥ {FAIRNESS_TARGET} (set for B = {TARGET_BOTS}). The draw is a lottery, so each B is run "
        f'{options.sales} time(s) and the ratio pooled over its sales; "per sale" lists each sale\'s ratio, '
        '"fair draw ±" the standard deviation the pooled ratio would have if every client had the same chance '
        '(hypergeometric, delta method). Times are seconds from the opening (medians; "admitted seen": the '
        "poll that answered ACTIVE; \"hold\": the winners' hold). Client CPU: the bench process's CPU as a "
        "share of one core, "
        f"over the whole sale and over its busiest {CPU_SAMPLE:g} s (the most of any of the row's sales; it must "
        "stay well under 100 % for the clients' timing to be the service's). A SHORT is a measurement; a "
        "broken invariant fails the run.",
        "",
        fairness_table(rows),
        "",
        *(
            [
                f"**Target row (F = {target_row.fans}, B = {TARGET_BOTS}, S = {target_row.seats}): ratio "
                f"{_ratio_text(target_row.ratio)} — {'PASS' if target_row.passed else 'SHORT'}.**",
                "",
            ]
            if target_row
            else []
        ),
        "Outcomes: " + ", ".join(f"{name} {n:,}" for name, n in sorted(outcomes.items())),
        "",
        "Answers other than 2xx: " + (", ".join(f"{name} {n:,}" for name, n in sorted(answers.items())) or "none"),
        "",
    ]

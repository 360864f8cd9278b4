"""Rate limits per account and per client address (sign-in, sign-up, queue-token issue,
holds, wallet charges), the failed-sign-in back-off, the hashing queue (a share per address, fair turns, a slow
lane for wrong passwords, a bounded waiting room), the hold of early retries, and the argon2
profile, over HTTP.

Every limit is proven with low settings (the ``settings`` fixture below); a refusal is a 429
``RATE_LIMITED`` with ``Retry-After`` that changed nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cluster_support import flush_all
from tests.factories import PASSWORD, admitted_token, create_concert, create_schedule, create_user, join_queue
from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.devservers.embedded import free_port
from ticketing.kernel import security
from ticketing.kernel.hashing import password_checks
from ticketing.kernel.ratelimit import PACE_MAX_SECONDS, ClientAddress
from ticketing.main import create_app
from ticketing.users.repository import UserRepository

Client = AsyncTestClient[Litestar]

NO_LIMITS = {
    "rate_limit_sign_in_per_account": "",
    "rate_limit_sign_in_per_address": "",
    "rate_limit_sign_in_failures": "",
    "rate_limit_sign_up_per_account": "",
    "rate_limit_sign_up_per_address": "",
    "rate_limit_queue_join_per_account": "",
    "rate_limit_queue_join_per_address": "",
    "rate_limit_hold_per_account": "",
    "rate_limit_hold_per_address": "",
    "rate_limit_charge_per_account": "",
    "challenge_sign_in_failures": "",
}


def limited(settings: Settings, **limits: Any) -> Settings:
    """The test settings with the limits on: only those named, all others off."""
    return settings.model_copy(update={"rate_limits_enabled": True, **NO_LIMITS, **limits})


@pytest.fixture
def limits(request: pytest.FixtureRequest) -> dict[str, Any]:
    """What a test limits (given with ``pytest.mark.parametrize(..., indirect=True)``)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def settings(settings: Settings, limits: dict[str, Any]) -> Settings:
    return limited(settings, **limits)


def assert_limited(response: httpx.Response) -> int:
    assert_problem(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


def sign_in(client: Client, name: str, password: str, **headers: str) -> Awaitable[httpx.Response]:
    return client.post("/api/v1/auth/token", json={"name": name, "password": password}, headers=headers)


def with_limits(**values: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("limits", [values], indirect=True, ids=[""])


# --- sign-in and sign-up ----------------------------------------------------------------------


@with_limits(rate_limit_sign_in_per_address="3/minute")
async def test_sign_in_per_address(client: Client) -> None:
    await client.post("/api/v1/users", json={"name": "fan.a", "password": "password-a"})
    for name in ("x1", "x2", "fan.a"):
        assert (await sign_in(client, name, "wrong-one")).status_code == 401
    # The right password, from the same address: refused before any work.
    assert_limited(await sign_in(client, "fan.a", "password-a"))


@with_limits(rate_limit_sign_in_per_account="2/minute", trusted_proxies=["10.0.0.0/8"])
async def test_sign_in_per_account_whatever_the_case(app: Litestar, client: Client) -> None:
    behind(app, "10.0.0.1")
    home, elsewhere = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}
    await client.post("/api/v1/users", json={"name": "fan.b", "password": "password-b"}, headers=home)
    # Sign-ins of the name from addresses that never signed in to it are limited, whatever the case.
    assert (await sign_in(client, "fan.b", "wrong-one", **elsewhere)).status_code == 401
    assert (await sign_in(client, "FAN.B", "wrong-one", **elsewhere)).status_code == 401
    assert_limited(await sign_in(client, "Fan.B", "password-b", **elsewhere))
    # The owner's own address (where the account was signed up) is not: a guesser elsewhere
    # cannot lock them out.
    assert (await sign_in(client, "fan.b", "password-b", **home)).status_code == 200
    # Another account from the same address is not affected.
    assert (await sign_in(client, "someone.else", "nope-nope", **elsewhere)).status_code == 401


@with_limits(rate_limit_sign_up_per_address="2/minute")
async def test_sign_up_per_address_creates_nothing_when_refused(client: Client, services: Services) -> None:
    for name in ("new.one", "new.two"):
        assert (await client.post("/api/v1/users", json={"name": name, "password": "password-1"})).status_code == 201
    assert_limited(await client.post("/api/v1/users", json={"name": "new.three", "password": "password-1"}))
    async with services.uow() as uow:
        assert await uow.repo(UserRepository).by_name("new.three") is None


@with_limits(rate_limit_sign_up_per_account="1/minute")
async def test_sign_up_per_name(client: Client) -> None:
    assert (await client.post("/api/v1/users", json={"name": "taken", "password": "password-1"})).status_code == 201
    # Probing the name again is limited (before the 409 that would tell it is taken).
    assert_limited(await client.post("/api/v1/users", json={"name": "TAKEN", "password": "password-1"}))


# --- the client address -----------------------------------------------------------------------


def behind(app: Litestar, peer: str) -> None:
    """Every request of the test client arrives from ``peer`` (a proxy, or a direct client)."""
    inner = app.asgi_handler

    async def from_peer(scope: Any, receive: Any, send: Any) -> None:
        scope["client"] = (peer, 40000)
        await inner(scope, receive, send)

    app.asgi_handler = from_peer


@with_limits(rate_limit_sign_in_per_address="2/minute", trusted_proxies=["10.0.0.0/8"])
async def test_behind_a_trusted_proxy_the_forwarded_address_counts(app: Litestar, client: Client) -> None:
    behind(app, "10.1.2.3")
    fan = {"X-Forwarded-For": "203.0.113.5"}
    assert (await sign_in(client, "someone", "nope-nope", **fan)).status_code == 401
    # A forged entry left of the address the proxy appended changes nothing: still 203.0.113.5.
    forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5, 10.9.9.9"}
    assert (await sign_in(client, "someone", "nope-nope", **forged)).status_code == 401
    assert_limited(await sign_in(client, "someone", "nope-nope", **fan))
    # Another client behind the same proxy has its own count.
    assert (await sign_in(client, "someone", "nope-nope", **{"X-Forwarded-For": "203.0.113.6"})).status_code == 401


@with_limits(rate_limit_sign_in_per_address="2/minute", trusted_proxies=["10.0.0.0/8"])
async def test_an_untrusted_peer_cannot_choose_its_address(app: Litestar, client: Client) -> None:
    behind(app, "192.0.2.7")
    for n in range(2):
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert (await sign_in(client, "someone", "nope-nope", **headers)).status_code == 401
    assert_limited(await sign_in(client, "someone", "nope-nope", **{"X-Forwarded-For": "203.0.113.99"}))


def test_client_address_rules() -> None:
    def scope(peer: str, *forwarded: bytes) -> dict[str, Any]:
        return {"client": (peer, 1), "headers": [(b"x-forwarded-for", value) for value in forwarded]}

    direct = ClientAddress([])
    assert direct.of(scope("192.0.2.1", b"203.0.113.5")) == "192.0.2.1"  # no trusted proxy: the peer
    proxied = ClientAddress(["127.0.0.1", "10.0.0.0/8"])
    assert proxied.of(scope("127.0.0.1", b"203.0.113.5, 10.0.0.2")) == "203.0.113.5"
    assert proxied.of(scope("127.0.0.1", b"1.1.1.1", b"203.0.113.5")) == "203.0.113.5"  # several headers
    assert proxied.of(scope("127.0.0.1")) == "127.0.0.1"  # nothing forwarded: the proxy itself
    assert proxied.of(scope("127.0.0.1", b"10.0.0.3")) == "127.0.0.1"
    # IPv6 clients count per /64 (a subscriber's whole prefix).
    assert direct.of(scope("2001:db8:1:2:aaaa::1")) == direct.of(scope("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert direct.of({"client": None, "headers": []}) == "unknown"


# --- the failed-sign-in back-off ----------------------------------------------------------------


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords hashed by sign-ins."""
    seen: list[str] = []
    real = security.verify_password_for_sign_in

    async def counted(
        stored_hash: str | None, password: str, *, client: str, known: bool = False
    ) -> tuple[bool, str | None]:
        seen.append(password)
        return await real(stored_hash, password, client=client, known=known)

    monkeypatch.setattr("ticketing.users.service.verify_password_for_sign_in", counted)
    return seen


@with_limits(rate_limit_sign_in_failures="3/minute;10/hour")
async def test_back_off_after_failed_sign_ins_known_and_unknown_alike(client: Client, verifications: list[str]) -> None:
    await client.post("/api/v1/users", json={"name": "victim", "password": "the-password"})
    for name in ("victim", "no.such.fan"):
        for _ in range(3):
            assert_problem(await sign_in(client, name, "guess-guess"), 401, "UNAUTHENTICATED")
    hashed = len(verifications)
    refused = [await sign_in(client, name, "guess-guess") for name in ("victim", "no.such.fan")]
    waits = [assert_limited(response) for response in refused]
    assert refused[0].json()["detail"].split(";")[0] == refused[1].json()["detail"].split(";")[0]
    assert all(1 <= wait <= 60 for wait in waits)
    # Even the right password waits (and nothing was hashed for any refused attempt).
    assert_limited(await sign_in(client, "victim", "the-password"))
    assert len(verifications) == hashed
    # Other accounts are unaffected.
    await client.post("/api/v1/users", json={"name": "bystander", "password": "the-password"})
    assert (await sign_in(client, "bystander", "the-password")).status_code == 200


@with_limits(rate_limit_sign_in_failures="2/minute")
async def test_successful_sign_ins_do_not_count(client: Client) -> None:
    await client.post("/api/v1/users", json={"name": "regular", "password": "the-password"})
    for _ in range(4):
        assert (await sign_in(client, "regular", "the-password")).status_code == 200


# --- queue-token issue and holds ----------------------------------------------------------------


@with_limits(rate_limit_queue_join_per_account="2/minute")
async def test_queue_join_per_account(client: Client, services: Services) -> None:
    fan = await create_user(services)
    concerts = [await create_concert(services, f"c{n}") for n in range(3)]
    for concert in concerts[:2]:
        joined = await client.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=fan.headers)
        assert joined.status_code == 201, joined.text
    assert_limited(await client.post(f"/api/v1/concerts/{concerts[2]}/queue/tokens", headers=fan.headers))
    # Refused: no token was issued, the fan's first join of that concert is still a new one.
    _, created = await join_queue(services, fan.principal, concerts[2])
    assert created


@with_limits(rate_limit_queue_join_per_address="2/minute")
async def test_queue_join_per_address(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    fans = [await create_user(services) for _ in range(3)]
    for fan in fans[:2]:
        assert (await client.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=fan.headers)).status_code == 201
    assert_limited(await client.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=fans[2].headers))
    _, created = await join_queue(services, fans[2].principal, concert)
    assert created


async def _hold(client: Client, headers: dict[str, str], seat_id: int) -> Any:
    return await client.post("/api/v1/reservations", json={"seat_id": seat_id}, headers=headers)


@pytest.mark.parametrize(
    "limits",
    [{"rate_limit_hold_per_account": "1/minute"}, {"rate_limit_hold_per_address": "1/minute"}],
    indirect=True,
    ids=["per-account", "per-address"],
)
async def test_holds_limited_and_a_refused_hold_holds_nothing(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    headers = {**fan.headers, "X-Queue-Token": token}
    seats = [seat.id for seat in schedule.seats]
    assert (await _hold(client, headers, seats[0])).status_code == 201
    assert_limited(await _hold(client, headers, seats[1]))
    listed = await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=headers)
    available = {seat["id"]: seat["available"] for seat in listed.json()}
    assert available == {seats[0]: False, seats[1]: True, seats[2]: True}
    mine = await client.get("/api/v1/reservations", headers=fan.headers)
    assert [r["seat_id"] for r in mine.json()["items"]] == [seats[0]]


@with_limits(rate_limit_charge_per_account="2/minute")
async def test_charges_limited_per_account_and_a_refused_charge_changes_nothing(
    client: Client, services: Services
) -> None:
    fan, other = await create_user(services), await create_user(services)

    def charge(who: Any, amount: int) -> Awaitable[httpx.Response]:
        return client.post(f"/api/v1/wallets/{who.wallet_id}/charges", json={"amount": amount}, headers=who.headers)

    assert (await charge(fan, 1_000)).status_code == 200
    assert (await charge(fan, 2_000)).status_code == 200
    assert_limited(await charge(fan, 4_000))
    wallet = (await client.get(f"/api/v1/wallets/{fan.wallet_id}", headers=fan.headers)).json()
    assert wallet["balance"] == 3_000  # the refused charge added nothing
    ledger = (await client.get(f"/api/v1/wallets/{fan.wallet_id}/ledger", headers=fan.headers)).json()
    assert [entry["amount"] for entry in ledger["items"]] == [2_000, 1_000]
    # Per account: another fan behind the same address charges as usual.
    assert (await charge(other, 1_000)).status_code == 200


# --- Redis down: fail open ------------------------------------------------------------------


@pytest.fixture
async def client_without_redis(settings: Settings) -> AsyncIterator[Client]:
    """The service with every limit on and its Redis unreachable (the database is up)."""
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 0.2})
    async with AsyncTestClient(app=create_app(dead)) as test_client:
        yield test_client


@with_limits(
    rate_limit_sign_in_per_account="1/minute",
    rate_limit_sign_in_per_address="1/minute",
    rate_limit_sign_in_failures="1/minute",
    rate_limit_sign_up_per_account="1/minute",
    rate_limit_sign_up_per_address="1/minute",
)
async def test_limits_fail_open_when_redis_is_down(client_without_redis: Client, clean: None) -> None:
    client = client_without_redis
    created = await client.post("/api/v1/users", json={"name": "no.redis", "password": "the-password"})
    assert created.status_code == 201, created.text
    for _ in range(3):
        assert (await sign_in(client, "no.redis", "wrong-wrong")).status_code == 401
    assert (await sign_in(client, "no.redis", "the-password")).status_code == 200


# --- hashing: the bounded queue and the profile -------------------------------------------------


class HashingGate:
    """Sign-in hashes wait while the gate is closed (so a test can fill the hashing thread and
    its queue), and the passwords are recorded in the order the hashing thread took them."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self.order: list[str] = []

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def verify(self, real: Callable[[str | None, str], tuple[bool, str | None]]) -> Any:
        def gated(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
            self.order.append(password)
            self._open.wait(10)
            return real(stored_hash, password)

        return gated


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[HashingGate]:
    gate = HashingGate()
    monkeypatch.setattr(security, "_verify_and_upgrade", gate.verify(security._verify_and_upgrade))
    yield gate
    gate.open()  # a failed test must not leave the hashing thread blocked for the next one


@pytest.fixture
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app served in the test's own event loop, its lifespan entered here, behind a trusted
    proxy at 10.0.0.1: requests run concurrently and the hashing queue's state is the test's to
    read (the Litestar test client runs each request to its end on an event loop of its own)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:  # the lifespan enters and exits in one task (anyio's rule)
        async with app.lifespan():
            started.set()
            await stop.wait()

    serving = asyncio.ensure_future(serve())
    await asyncio.wait([serving, asyncio.ensure_future(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        serving.result()  # the start-up failed: raise its error
    transport = httpx.ASGITransport(
        app=app,  # type: ignore[arg-type]  # httpx types ASGI scopes as MutableMapping, Litestar as TypedDicts
        client=("10.0.0.1", 40000),
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as http:
        yield http
    stop.set()
    await serving


def signing_in(http: httpx.AsyncClient, name: str, password: str, address: str) -> Awaitable[httpx.Response]:
    """A sign-in from ``address`` (the X-Forwarded-For the trusted proxy passes on)."""
    return http.post(
        "/api/v1/auth/token", json={"name": name, "password": password}, headers={"X-Forwarded-For": address}
    )


@pytest.fixture
def holds(app: Litestar, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The holds of early retries (``RateLimiter.pace``), recorded instead of waited for."""
    seen: list[float] = []

    async def hold(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(app.state.services.rate_limits, "_sleep", hold)
    return seen


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until ``condition`` holds (requests in flight reach their state);
    fails the test if it never does."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the requests never reached the expected state")


A, B, C = "203.0.113.1", "203.0.113.2", "203.0.113.3"
PROXIED = {"trusted_proxies": ["10.0.0.0/8"]}


@with_limits(password_hash_per_address=1, **PROXIED)
async def test_an_address_over_its_share_gets_429_while_another_signs_in(
    http: httpx.AsyncClient, services: Services, gate: HashingGate
) -> None:
    fan_a, fan_b = await create_user(services), await create_user(services)
    gate.close()
    first = asyncio.ensure_future(signing_in(http, fan_a.name, PASSWORD, A))
    await until(lambda: password_checks.counts() == (1, 0))  # A's sign-in is hashing
    # A's share (one check at a time) is taken: its next sign-in, and any other password check,
    # is refused at once, before any work.
    assert_limited(await signing_in(http, fan_a.name, PASSWORD, A))
    change = {"current_password": PASSWORD, "new_password": "another-password"}
    assert_limited(
        await http.put("/api/v1/users/me/password", json=change, headers={**fan_a.headers, "X-Forwarded-For": A})
    )
    # B is admitted: its hash waits for the thread.
    second = asyncio.ensure_future(signing_in(http, fan_b.name, PASSWORD, B))
    await until(lambda: password_checks.counts() == (1, 1))
    gate.open()
    assert (await first).status_code == 200
    assert (await second).status_code == 200
    assert gate.order == [PASSWORD, PASSWORD]  # the refused requests hashed nothing
    # Its share free again, A signs in.
    assert (await signing_in(http, fan_a.name, PASSWORD, A)).status_code == 200


@with_limits(password_hash_per_address=2, **PROXIED)
async def test_an_address_that_sent_a_wrong_password_waits_behind_the_others(
    http: httpx.AsyncClient, services: Services, gate: HashingGate
) -> None:
    fan_a, fan_b, fan_c = [await create_user(services) for _ in range(3)]
    gate.close()
    # A's first guess holds the hashing thread; its second, and then B's sign-in, wait in turn.
    first_guess = asyncio.ensure_future(signing_in(http, fan_a.name, "guess-one", A))
    await until(lambda: password_checks.counts() == (1, 0))
    second_guess = asyncio.ensure_future(signing_in(http, fan_a.name, "guess-two", A))
    await until(lambda: password_checks.counts() == (1, 1))
    fan = asyncio.ensure_future(signing_in(http, fan_b.name, PASSWORD, B))
    await until(lambda: password_checks.counts() == (1, 2))
    gate.open()
    # The first guess failed: A's waiting guess moved to the slow lane, and B, who came after it,
    # was hashed first.
    assert (await fan).status_code == 200
    assert [(await guess).status_code for guess in (first_guess, second_guess)] == [401, 401]
    assert gate.order == ["guess-one", PASSWORD, "guess-two"]
    # From now on A waits behind C, whatever their order of arrival.
    gate.close()
    del gate.order[:]
    running = asyncio.ensure_future(signing_in(http, fan_c.name, PASSWORD, C))
    await until(lambda: password_checks.counts() == (1, 0))
    third_guess = asyncio.ensure_future(signing_in(http, fan_a.name, "guess-three", A))
    await until(lambda: password_checks.counts() == (1, 1))
    later = asyncio.ensure_future(signing_in(http, fan_b.name, PASSWORD, B))
    await until(lambda: password_checks.counts() == (1, 2))
    gate.open()
    assert [(await r).status_code for r in (running, later, third_guess)] == [200, 200, 401]
    assert gate.order == [PASSWORD, PASSWORD, "guess-three"]
    assert password_checks.counts() == (0, 0)


@with_limits(password_hash_queue=2, **PROXIED)
async def test_a_second_waiting_hash_of_an_address_gives_way_to_a_fan_when_the_queue_is_full(
    http: httpx.AsyncClient, services: Services, gate: HashingGate
) -> None:
    fan_a, fan_b, fan_c = [await create_user(services) for _ in range(3)]
    gate.close()
    running = asyncio.ensure_future(signing_in(http, fan_c.name, PASSWORD, C))
    await until(lambda: password_checks.counts() == (1, 0))
    first = asyncio.ensure_future(signing_in(http, fan_a.name, PASSWORD, A))
    await until(lambda: password_checks.counts() == (1, 1))
    second = asyncio.ensure_future(signing_in(http, "nobody.here", "a-second", A))
    await until(lambda: password_checks.counts() == (1, 2))  # full; no password of A was wrong yet
    # A's second waiting hash is in the slow lane: B's sign-in takes its place.
    fan = asyncio.ensure_future(signing_in(http, fan_b.name, PASSWORD, B))
    assert_problem(await second, 503, "SERVICE_UNAVAILABLE")
    gate.open()
    assert [(await r).status_code for r in (running, first, fan)] == [200, 200, 200]
    assert gate.order == [PASSWORD] * 3


@with_limits(password_hash_queue=1, **PROXIED)
async def test_a_full_queue_refuses_with_503_and_makes_room_for_a_fan_by_refusing_a_guesser(
    http: httpx.AsyncClient, services: Services, gate: HashingGate
) -> None:
    fan_a, fan_b, fan_c = [await create_user(services) for _ in range(3)]
    assert_problem(await signing_in(http, fan_a.name, "guess-one", A), 401, "UNAUTHENTICATED")
    gate.close()
    running = asyncio.ensure_future(signing_in(http, fan_c.name, PASSWORD, C))
    await until(lambda: password_checks.counts() == (1, 0))
    guessing = asyncio.ensure_future(signing_in(http, fan_a.name, "guess-two", A))
    await until(lambda: password_checks.counts() == (1, 1))  # the waiting room (one place) is full
    # Another guess of the slow lane finds no room: 503 at once.
    full = await signing_in(http, "nobody.here", "guess-three", A)
    assert_problem(full, 503, "SERVICE_UNAVAILABLE")
    assert full.headers["retry-after"] == "1"
    # A fan of the fast lane takes the guesser's place; the guesser is answered 503.
    fan = asyncio.ensure_future(signing_in(http, fan_b.name, PASSWORD, B))
    bumped = await guessing
    assert_problem(bumped, 503, "SERVICE_UNAVAILABLE")
    assert bumped.headers["retry-after"] == "1"
    assert password_checks.counts() == (1, 1)
    # A second fan finds the room full of fans: 503 at once, nobody bumped.
    assert_problem(await signing_in(http, fan_c.name, PASSWORD, C), 503, "SERVICE_UNAVAILABLE")
    gate.open()
    assert (await running).status_code == 200
    assert (await fan).status_code == 200
    assert gate.order == ["guess-one", PASSWORD, PASSWORD]
    assert password_checks.counts() == (0, 0)


HOME = "198.51.100.7"


@with_limits(password_hash_queue=2, **PROXIED)
async def test_the_owner_from_a_known_address_is_hashed_before_fresh_addresses(
    http: httpx.AsyncClient, services: Services, gate: HashingGate
) -> None:
    owner, fan_c = await create_user(services), await create_user(services)
    assert (await signing_in(http, owner.name, PASSWORD, HOME)).status_code == 200  # HOME is known now
    gate.close()
    running = asyncio.ensure_future(signing_in(http, fan_c.name, PASSWORD, C))
    await until(lambda: password_checks.counts() == (1, 0))
    guess = asyncio.ensure_future(signing_in(http, owner.name, "guess-one", A))  # a fresh address
    await until(lambda: password_checks.counts() == (1, 1))
    at_home = asyncio.ensure_future(signing_in(http, owner.name, PASSWORD, HOME))
    await until(lambda: password_checks.counts() == (1, 2))
    gate.open()
    assert [(await r).status_code for r in (running, at_home, guess)] == [200, 200, 401]
    assert gate.order == [PASSWORD, PASSWORD, PASSWORD, "guess-one"]  # the owner came after C, before A


@with_limits(password_hash_queue=1, **PROXIED)
async def test_a_full_queue_makes_room_for_the_owner_by_refusing_a_fresh_address(
    http: httpx.AsyncClient, services: Services, gate: HashingGate
) -> None:
    owner, fan_c = await create_user(services), await create_user(services)
    assert (await signing_in(http, owner.name, PASSWORD, HOME)).status_code == 200
    gate.close()
    running = asyncio.ensure_future(signing_in(http, fan_c.name, PASSWORD, C))
    await until(lambda: password_checks.counts() == (1, 0))
    guess = asyncio.ensure_future(signing_in(http, owner.name, "guess-one", A))  # the fast lane: full now
    await until(lambda: password_checks.counts() == (1, 1))
    at_home = asyncio.ensure_future(signing_in(http, owner.name, PASSWORD, HOME))
    assert_problem(await guess, 503, "SERVICE_UNAVAILABLE")  # a fan from a fresh address would have got it
    gate.open()
    assert [(await r).status_code for r in (running, at_home)] == [200, 200]
    assert gate.order == [PASSWORD] * 3


@with_limits(rate_limit_sign_in_per_address="4/minute", rate_limit_sign_in_per_account="2/minute", **PROXIED)
async def test_a_client_back_before_its_retry_after_is_held_and_refusals_are_remembered(
    http: httpx.AsyncClient, services: Services, holds: list[float]
) -> None:
    for name in ("x1", "x2", "x3", "x4"):
        assert (await signing_in(http, name, "guess-guess", A)).status_code == 401
    wait = assert_limited(await signing_in(http, "x5", "guess-guess", A))
    assert holds == []  # nobody was early yet
    # Back at once: held (at most PACE_MAX_SECONDS, never beyond its Retry-After), then refused
    # as usual, by the process's memory of the refusal: Redis no longer knows it.
    await flush_all(services.redis)
    again = await signing_in(http, "x6", "guess-guess", A)
    assert_limited(again)
    assert len(holds) == 1 and 0 < holds[0] <= min(wait, PACE_MAX_SECONDS)
    # Another address is neither held nor refused.
    assert (await signing_in(http, "x7", "guess-guess", B)).status_code == 401
    # An account over its own limit does not hold its address (a NAT's other fans).
    for _ in range(2):
        assert (await signing_in(http, "shared", "guess-guess", C)).status_code == 401
    assert_limited(await signing_in(http, "shared", "guess-guess", C))
    assert (await signing_in(http, "other.fan", "guess-guess", C)).status_code == 401
    assert len(holds) == 1


async def test_new_hashes_are_owasp_argon2id_and_old_ones_are_upgraded_on_sign_in(
    client: Client, services: Services
) -> None:
    created = await client.post("/api/v1/users", json={"name": "fresh", "password": "the-password"})
    assert created.status_code == 201
    async with services.uow() as uow:
        fresh = await uow.repo(UserRepository).by_name("fresh")
    assert fresh is not None and fresh.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    old_hash = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("old-password")
    async with services.uow() as uow:
        user_id = await uow.repo(UserRepository).add("veteran", old_hash)
        await services.wallets.create_wallet(uow, user_id)
        await uow.commit()
    before = await sign_in(client, "veteran", "old-password")
    assert before.status_code == 200
    async with services.uow() as uow:
        upgraded = await uow.repo(UserRepository).by_id(user_id)
    assert upgraded is not None and upgraded.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # The same password still works, and the upgrade revoked nothing.
    assert (await sign_in(client, "veteran", "old-password")).status_code == 200
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {before.json()['access_token']}"})
    assert me.status_code == 200

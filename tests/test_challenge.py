"""The proof-of-work gate (ALTCHA) and sign-in that a guesser cannot lock.

The gate: a valid solution passes once; a replayed, expired, other action's, tampered, garbage
or wrong-number solution is a 428 ``CHALLENGE_REQUIRED`` with a fresh challenge (never a 500)
and nothing is done. Sign-up and queue join are gated while the gate is on; sign-in is gated
after failures, except from an address that signed in to the account before.

Low difficulty here (``challenge_max_number``): the tests solve in Python."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_user, join_queue
from tests.support import assert_problem
from tests.test_rate_limits import NO_LIMITS, behind
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.devservers.embedded import free_port
from ticketing.edge.openapi import openapi_document
from ticketing.kernel.challenge import Challenge, ChallengeGate, join_action, sign_up_action, solve
from ticketing.kernel.errors import ChallengeRequired
from ticketing.kernel.redis import create_redis
from ticketing.main import create_app
from ticketing.users.repository import UserRepository

Client = AsyncTestClient[Litestar]

GATE = {"challenge_enabled": True, "challenge_max_number": 2000, "challenge_join_waiting": 0}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=GATE)


def challenge_of(response: httpx.Response) -> Challenge:
    body = assert_problem(response, 428, "CHALLENGE_REQUIRED")
    assert set(body["challenge"]) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    return msgspec.convert(body["challenge"], Challenge)


def altered(solution: str, **changes: Any) -> str:
    payload = json.loads(base64.b64decode(solution))
    payload.update(changes)
    return base64.b64encode(json.dumps(payload).encode()).decode()


def sign_up(client: Client, name: str, solution: str | None = None, **headers: str) -> Awaitable[httpx.Response]:
    if solution is not None:
        headers["X-Altcha"] = solution
    return client.post("/api/v1/users", json={"name": name, "password": "the-password"}, headers=headers)


def sign_in(client: Client, name: str, password: str, **headers: str) -> Awaitable[httpx.Response]:
    return client.post("/api/v1/auth/token", json={"name": name, "password": password}, headers=headers)


async def user_exists(services: Services, name: str) -> bool:
    async with services.uow() as uow:
        return await uow.repo(UserRepository).by_name(name) is not None


# --- the gate itself ----------------------------------------------------------------------------


async def test_a_solution_passes_once_for_its_action_only(services: Services) -> None:
    gate = services.challenges
    solution = solve(gate.issue(sign_up_action()))
    with pytest.raises(ChallengeRequired) as other_action:
        await gate.require(join_action(1), solution)
    await gate.require(sign_up_action(), solution)  # the refusal above did not use it up
    with pytest.raises(ChallengeRequired) as replayed:
        await gate.require(sign_up_action(), solution)
    for refused in (other_action.value, replayed.value):
        fresh = refused.extra["challenge"]
        assert isinstance(fresh, Challenge) and fresh.maxnumber == GATE["challenge_max_number"]
        assert "action=sign-up" in fresh.salt or "action=join%3A1" in fresh.salt


async def test_a_solution_of_another_concert_or_name_is_refused(services: Services, settings: Settings) -> None:
    gate = services.challenges
    for made_for, used_for in [(join_action(1), join_action(12)), ("sign-in:aaa", "sign-in:aab")]:
        with pytest.raises(ChallengeRequired):
            await gate.require(used_for, solve(gate.issue(made_for)))


async def test_every_kind_of_bad_solution_is_refused(services: Services, settings: Settings) -> None:
    gate = services.challenges
    action = sign_up_action()
    good = solve(gate.issue(action))
    number = json.loads(base64.b64decode(good))["number"]
    past = ChallengeGate(services.redis, settings, clock=lambda: time.time() - 2 * settings.challenge_ttl_seconds)
    foreign = ChallengeGate(services.redis, settings.model_copy(update={"jwt_secret": "another-" + "y" * 40}))
    bad = {
        "expired": solve(past.issue(action)),
        "signed with another key": solve(foreign.issue(action)),
        "tampered signature": altered(good, signature="0" * 64),
        "wrong number": altered(good, number=number + 1),
        "number as a string": altered(good, number=str(number)),
        "salt of another action": altered(
            good, salt=json.loads(base64.b64decode(good))["salt"].replace("sign-up", "x")
        ),
        "another algorithm": altered(good, algorithm="SHA-1"),
        "missing member": base64.b64encode(b'{"algorithm": "SHA-256"}').decode(),
        "not JSON": base64.b64encode(b"not json at all").decode(),
        "JSON but a list": base64.b64encode(b"[1, 2]").decode(),
        "not base64": "%%%not-base64%%%",
        "not ASCII": "\u00e9t\u00e9",
        "too long": "A" * 5000,
        "empty": "",
    }
    for why, solution in bad.items():
        with pytest.raises(ChallengeRequired):
            await gate.require(action, solution)
        assert gate.check(action, solution) is None, why
    await gate.require(action, good)  # none of the above used up the good one


async def test_single_use_holds_across_processes(services: Services, settings: Settings) -> None:
    """Two gates (two server processes) on one Redis: a solution used at one is refused at the other."""
    other_redis = create_redis(settings)
    try:
        other = ChallengeGate(other_redis, settings)
        solution = solve(services.challenges.issue(sign_up_action()))
        await other.require(sign_up_action(), solution)
        with pytest.raises(ChallengeRequired):
            await services.challenges.require(sign_up_action(), solution)
    finally:
        await other_redis.aclose()


async def test_redis_down_a_solution_still_passes_once_per_process(settings: Settings) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 0.2})
    redis = create_redis(dead)
    try:
        gate = ChallengeGate(redis, dead)
        solution = solve(gate.issue(sign_up_action()))
        await gate.require(sign_up_action(), solution)
        with pytest.raises(ChallengeRequired):
            await gate.require(sign_up_action(), solution)
    finally:
        await redis.aclose()


# --- gated endpoints ----------------------------------------------------------------------------


async def test_sign_up_needs_a_solution_and_refusals_create_nothing(client: Client, services: Services) -> None:
    for header in (None, "garbage", altered(solve(services.challenges.issue(join_action(1))), number=-1)):
        challenge = challenge_of(await sign_up(client, "new.fan", header))
        assert not await user_exists(services, "new.fan")
    solution = solve(challenge)
    created = await sign_up(client, "new.fan", solution)
    assert created.status_code == 201, created.text
    # The same solution again, for another name: refused, nothing created.
    challenge_of(await sign_up(client, "other.fan", solution))
    assert not await user_exists(services, "other.fan")


async def test_queue_join_needs_a_solution_for_that_concert(client: Client, services: Services) -> None:
    fan = await create_user(services)
    concert, other = await create_concert(services, "a"), await create_concert(services, "b")
    path = f"/api/v1/concerts/{concert}/queue/tokens"
    challenge = challenge_of(await client.post(path, headers=fan.headers))
    assert "action=join%3A" + str(concert) + "&" in challenge.salt
    of_other = solve(services.challenges.issue(join_action(other)))
    challenge_of(await client.post(path, headers={**fan.headers, "X-Altcha": of_other}))
    # Refused: no token was issued (the fan's first token is a new one).
    _, created = await join_queue(services, fan.principal, concert)
    assert created
    joined = await client.post(path, headers={**fan.headers, "X-Altcha": solve(challenge)})
    assert joined.status_code == 200, joined.text  # the live token of the line above
    another = await create_user(services)
    challenge = challenge_of(await client.post(path, headers=another.headers))
    assert (await client.post(path, headers={**another.headers, "X-Altcha": solve(challenge)})).status_code == 201


async def test_queue_join_is_gated_only_under_pressure(settings: Settings, services: Services, clean: None) -> None:
    """Three fans waiting is "pressure" here (nobody is admitted: no admission job runs in the
    tests): the first three join freely, the fourth is asked to solve a challenge."""
    gated_from = settings.model_copy(update={"challenge_join_waiting": 3})
    app = create_app(gated_from)
    async with AsyncTestClient(app=app) as client:
        concert = await create_concert(services)
        path = f"/api/v1/concerts/{concert}/queue/tokens"
        fans = [await create_user(services) for _ in range(4)]
        tokens = []
        for fan in fans[:3]:
            joined = await client.post(path, headers=fan.headers)
            assert joined.status_code == 201, joined.text
            tokens.append(joined.json()["token"])
        # A poll brings the process's view of the queue up to date (the server job does it in a run).
        polled = await client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": tokens[-1]})
        assert polled.json()["position"] == 3, polled.text
        challenge = challenge_of(await client.post(path, headers=fans[3].headers))
        joined = await client.post(path, headers={**fans[3].headers, "X-Altcha": solve(challenge)})
        assert joined.status_code == 201, joined.text
        assert joined.json()["position"] == 4


async def test_with_the_gate_off_nothing_is_asked(settings: Settings, clean: None) -> None:
    async with AsyncTestClient(app=create_app(settings.model_copy(update={"challenge_enabled": False}))) as client:
        assert (await sign_up(client, "free.fan", "garbage")).status_code == 201


def test_the_openapi_document_shows_the_428_and_its_challenge(app: Litestar) -> None:
    document = openapi_document(app)
    for path in ("/api/v1/users", "/api/v1/auth/token", "/api/v1/concerts/{concert_id}/queue/tokens"):
        operation = document["paths"][path]["post"]
        assert "CHALLENGE_REQUIRED" in operation["responses"]["428"]["description"], path
        assert any(p["name"] == "X-Altcha" and p["in"] == "header" for p in operation["parameters"]), path
    problem = document["components"]["schemas"]["Problem"]
    assert problem["properties"]["challenge"] == {"$ref": "#/components/schemas/Challenge"}
    assert set(document["components"]["schemas"]["Challenge"]["required"]) == {
        "algorithm",
        "challenge",
        "maxnumber",
        "salt",
        "signature",
    }


# --- sign-in under a guessing flood -------------------------------------------------------------

FLOOD_LIMITS = {
    "rate_limits_enabled": True,
    **NO_LIMITS,
    "trusted_proxies": ["10.0.0.0/8"],
    "rate_limit_sign_in_failures": "3/minute;10/hour",  # per (name, address)
    "challenge_sign_in_failures": "5/15 minutes",  # per name, per address: then new addresses solve
}


@pytest.fixture
def flood_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=FLOOD_LIMITS)


@pytest.fixture
def flood_app(flood_settings: Settings, clean: None) -> Litestar:
    app = create_app(flood_settings)
    behind(app, "10.0.0.1")
    return app


@pytest.fixture
async def flood_client(flood_app: Litestar) -> Any:
    async with AsyncTestClient(app=flood_app) as client:
        yield client


def at(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_a_flood_from_many_addresses_does_not_lock_the_owner_out(flood_client: Client) -> None:
    client = flood_client
    home, phone = at("198.51.100.7"), at("198.51.100.8")
    gate_solution = await sign_up(client, "owner", **home)
    assert gate_solution.status_code == 428
    assert (await sign_up(client, "owner", solve(challenge_of(gate_solution)), **home)).status_code == 201
    assert (await sign_in(client, "owner", "the-password", **phone)).status_code == 200  # now known too
    # 30 guessing addresses, 2 guesses each (under the pair back-off): 5 wrong answers fill the
    # name's ceiling, and every later guess is asked to solve a challenge instead of being hashed.
    statuses = [
        (await sign_in(client, "OWNER", f"guess-{n}", **at(f"203.0.113.{n // 2 + 1}"))).status_code for n in range(60)
    ]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {428}
    # The owner signs in first try from each address that signed in before: no 429, no 428.
    for known in (home, phone, home):
        assert (await sign_in(client, "owner", "the-password", **known)).status_code == 200
    # A new address past the name's ceiling: a challenge, not a refusal; with a solution, in.
    laptop = at("192.0.2.50")
    challenge = challenge_of(await sign_in(client, "owner", "the-password", **laptop))
    solved = await sign_in(client, "owner", "the-password", **laptop, **{"X-Altcha": solve(challenge)})
    assert solved.status_code == 200, solved.text
    # ... and that address is known from now on.
    assert (await sign_in(client, "owner", "the-password", **laptop)).status_code == 200


async def test_a_solution_for_one_name_does_not_sign_in_another(flood_client: Client) -> None:
    client = flood_client
    for name in ("victim", "other"):
        for n in range(5):
            assert (await sign_in(client, name, "wrong-wrong", **at(f"203.0.113.{n + 1}"))).status_code == 401
    newcomer = at("192.0.2.60")
    challenge = challenge_of(await sign_in(client, "other", "wrong-wrong", **newcomer))
    refused = await sign_in(client, "victim", "wrong-wrong", **newcomer, **{"X-Altcha": solve(challenge)})
    challenge_of(refused)


async def test_the_guessers_own_address_still_backs_off(flood_client: Client) -> None:
    """The (name, address) back-off stays a refusal (429), solution or not."""
    client = flood_client
    guesser = at("203.0.113.99")
    for _ in range(3):
        assert (await sign_in(client, "someone", "wrong-wrong", **guesser)).status_code == 401
    assert_problem(await sign_in(client, "someone", "wrong-wrong", **guesser), 429, "RATE_LIMITED")

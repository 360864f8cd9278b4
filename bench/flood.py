"""The sign-in flood of ``make bench`` (sign-in that survives a flood).

64 attacker connections send sign-ins with wrong passwords as fast as they are answered, never
honouring Retry-After, for the names of two real fans and for unknown names, from one address or
from 64 (``SCENARIOS``), while real fans, each from an address of their own, sign in once every
two seconds, and the rest of the API (token poll, seat map) is measured before, during and after
the attack. Every client address is sent as ``X-Forwarded-For`` and the service runs with
``TICKETING_TRUSTED_PROXIES=127.0.0.1`` (the bench runs on loopback), so the per-address limits
and shares see distinct clients.

The attack and the reads are driven by the bench's generator (wrk, a process of its own: the
attack must not be bounded by the Python client sharing the CPU with the fans it delays), the
fans by the Python client (each is one request every two seconds).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass

import msgspec

from bench.client import Pool, Recorder
from bench.fixtures import create_fans
from bench.loadgen import Generator, LoadResult, PythonClient, Wrk
from bench.workloads import HOST, Target, admitted_tokens, bearer, create_sale
from ticketing.container import Services
from ticketing.kernel.challenge import Challenge, solve
from ticketing.kernel.security import HASH_PROFILE, password_hasher

ATTACK_CONNECTIONS = 64
READ_CONNECTIONS = 16  # the rest of the API, as measured before, during and after an attack
FANS = 16  # real fans per window (before, during), each from an address of its own
FAN_INTERVAL = 2.0  # seconds between two sign-ins of a fan: 8 sign-ins a second in all
TARGETED_FANS = 2  # of those during the attack, the ones whose names the attackers guess


@dataclass(frozen=True)
class FloodScenario:
    name: str
    attacker_addresses: int  # the attack's connections spread their requests over this many addresses
    rate_limits: bool  # the production sign-in limits; False: no Redis limit answers (Redis down, fail open)


SCENARIOS = (
    FloodScenario("one attacker address, production limits", 1, rate_limits=True),
    FloodScenario("64 attacker addresses, production limits", 64, rate_limits=True),
    FloodScenario("one attacker address, limits failing open (Redis down)", 1, rate_limits=False),
)


@dataclass
class Reads:
    """The rest of the API in one window: a queue-token poll, then a seat map."""

    poll: LoadResult
    seats: LoadResult


@dataclass
class FloodResult:
    scenario: FloodScenario
    seconds: float  # of each window: before, during and after the attack
    quiet_fans: Recorder  # real fans signing in before the attack (the baseline)
    other_fans: Recorder  # real fans during the attack, their names not guessed
    targeted_fans: Recorder  # real fans during the attack whose names are guessed
    guesses: LoadResult
    before: Reads
    during: Reads
    after: Reads


def measure_hash_rate(seconds: float = 1.0) -> float:
    """Verifications per second of one core at the service's argon2 profile (one thread, this
    machine, whatever else runs: measure it while the machine is quiet)."""
    hasher = password_hasher()
    stored = hasher.hash("a-fans-password")
    done, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        hasher.verify(stored, "a-fans-password")
        done += 1
    return done / (time.process_time() - started)


def _attack_generator(generator: Generator) -> Generator:
    """A generator of its own for the attack, which runs beside the reads' (a Wrk counts its runs
    to name its files: two at once must not share one)."""
    if isinstance(generator, Wrk):
        return Wrk(generator.binary, generator.work_dir.parent / "flood", generator.threads)
    return PythonClient()


Fan = tuple[str, str, str]  # name, password, address


async def _sign_up(target: Target, pool: Pool, fans: list[Fan]) -> None:
    """Each fan signs up from its own address (which the service then knows as the account's),
    solving the proof-of-work challenge of the 428 as the pages do (the gate is on here)."""
    for name, password, address in fans:
        headers = {"X-Forwarded-For": address}
        created = await pool.send(target.post("/api/v1/users", {"name": name, "password": password}, headers))
        if created.status == 428:
            problem = created.json()
            assert isinstance(problem, dict), created.body
            solution = await asyncio.to_thread(solve, msgspec.convert(problem["challenge"], Challenge))
            headers["X-Altcha"] = solution
            created = await pool.send(target.post("/api/v1/users", {"name": name, "password": password}, headers))
        assert created.status == 201, created.body


async def _fans_sign_in(target: Target, pool: Pool, fans: list[Fan], recorders: list[Recorder], seconds: float) -> None:
    """Each fan signs in every ``FAN_INTERVAL`` for ``seconds`` (a person, not a loop), into its
    recorder, the fans spread over the interval."""
    until = time.perf_counter() + seconds

    async def fan(n: int) -> None:
        name, password, address = fans[n]
        request = target.post("/api/v1/auth/token", {"name": name, "password": password}, {"X-Forwarded-For": address})
        await asyncio.sleep(0.2 + FAN_INTERVAL * n / len(fans))  # after an attack's first burst
        while time.perf_counter() < until:
            await pool.send(request, recorders[n])
            await asyncio.sleep(FAN_INTERVAL)

    distinct = list({id(recorder): recorder for recorder in recorders}.values())
    for recorder in distinct:
        recorder.started = time.perf_counter()
    await asyncio.gather(*(fan(n) for n in range(len(fans))))
    for recorder in distinct:
        recorder.close()


async def flood_scenario(
    services: Services, target: Target, scenario: FloodScenario, index: int, seconds: float
) -> FloodResult:
    """One attack against the service as the runner started it for ``scenario``, in three windows
    of ``seconds``: before (fans sign in, the rest of the API is measured), during (the same, and the
    attack) and after (the rest of the API again; its figure is the mean of before and after, so
    that another load on a shared machine moves both sides of the ratio). ``index`` keeps each
    scenario's names and addresses apart (the limits' counters live on in Redis). Every fan signs
    in within one window only, well under the per-account and per-address limits."""
    run = secrets.token_hex(3)
    quiet_fans, attack_fans = (
        [(f"flood{index}{window}_{n}_{run}", secrets.token_urlsafe(12), f"192.0.{2 * index + w + 2}.{n + 1}")
         for n in range(FANS)]
        for w, window in enumerate("qa")
    )  # fmt: skip
    pool = Pool(HOST, target.port, FANS + 4)
    await pool.open()
    try:
        await _sign_up(target, pool, quiet_fans + attack_fans)
        reader = (await create_fans(services, 1, balance=0))[0]
        concert, schedules, _ = await create_sale(services, f"bench: flood {index}", dates=1, seats=50, price=10_000)
        token = (await admitted_tokens(target, pool, [reader], concert))[0]
        polls = [target.get("/api/v1/queue/tokens/me", {"X-Queue-Token": token})]
        seat_maps = [target.get(f"/api/v1/schedules/{schedules[0]}/seats", bearer(reader, token))]
        await target.warm_up(polls + seat_maps)
        half = max(1.0, round(seconds / 2))  # wrk takes whole seconds
        window = 2 * half
        generator = target.generator

        async def reads(when: str) -> Reads:
            await asyncio.sleep(0.1)  # an attack's connections first
            poll = await generator.run(f"token poll, {when}", target.port, polls, half, READ_CONNECTIONS)
            return Reads(poll, await generator.run(f"seat map, {when}", target.port, seat_maps, half, READ_CONNECTIONS))

        print(f"  {scenario.name}: before the attack ({window:g} s) ...", flush=True)
        quiet = Recorder("sign-in, no attack")
        before, _ = await asyncio.gather(
            reads("before"), _fans_sign_in(target, pool, quiet_fans, [quiet] * FANS, window)
        )

        rng = random.Random(index)
        names = [name for name, _, _ in attack_fans[:TARGETED_FANS]] + [f"nobody{index}_{n}_{run}" for n in range(200)]
        attackers = [f"203.0.{113 - index}.{n + 1}" for n in range(scenario.attacker_addresses)]
        guesses = [
            target.post(
                "/api/v1/auth/token",
                {"name": rng.choice(names), "password": secrets.token_urlsafe(9)},
                {"X-Forwarded-For": attackers[n % len(attackers)]},
            )
            for n in range(4096)
        ]
        targeted, others = Recorder("sign-in, named by the attack"), Recorder("sign-in, attack")
        print(f"  {scenario.name}: attacking ({window:g} s) ...", flush=True)
        attack, during, _ = await asyncio.gather(
            _attack_generator(generator).run("guesses", target.port, guesses, window, ATTACK_CONNECTIONS),
            reads("attack"),
            _fans_sign_in(
                target, pool, attack_fans, [targeted] * TARGETED_FANS + [others] * (FANS - TARGETED_FANS), window
            ),
        )
        print(f"  {scenario.name}: after the attack ({window:g} s) ...", flush=True)
        after = await reads("after")
        result = FloodResult(scenario, window, quiet, others, targeted, attack, before, during, after)
        print("\n".join(f"    {line}" for line in scenario_lines(result)), flush=True)
        return result
    finally:
        pool.close()


def _ratio(before: LoadResult, during: LoadResult, after: LoadResult) -> str:
    quiet = (before.throughput + after.throughput) / 2
    ratio = during.throughput / quiet if quiet else 0.0
    return (
        f"{before.throughput:,.0f} / **{during.throughput:,.0f}** / {after.throughput:,.0f} req/s before / during / "
        f"after: **ratio {ratio:.2f}**; p99 {before.p99 * 1000:.1f} / {during.p99 * 1000:.1f} / "
        f"{after.p99 * 1000:.1f} ms"
    )


def _fans_line(label: str, fans: Recorder) -> str:
    refused = fans.count - fans.statuses[200]
    return (
        f"{label}: {fans.count} sign-ins, p50 {fans.percentile(0.5) * 1000:.0f} ms, "
        f"p99 {fans.percentile(0.99) * 1000:.0f} ms, refused {refused}, answers {dict(sorted(fans.statuses.items()))}"
    )


def _owners_line(owners: Recorder) -> str:
    signed_in = owners.statuses[200]
    return (
        f"- **the owners of the guessed names**, from the address they signed up from: {owners.count} attempts, "
        f"**{signed_in} signed in at the first try**, {owners.count - signed_in} not (answers "
        f"{dict(sorted(owners.statuses.items()))}; 429 = locked out, 428 = asked to solve)"
    )


def _guesses_line(guesses: LoadResult) -> str:
    by_status = guesses.statuses
    return (
        f"- the guesses: {guesses.requests:,} ({guesses.throughput:,.0f}/s): {by_status.get(401, 0):,} hashed and "
        f"wrong (401), {by_status.get(428, 0):,} asked to solve a challenge (428, not hashed), "
        f"{by_status.get(429, 0):,} refused (429), {by_status.get(503, 0):,} 503; all answers "
        f"{dict(sorted(by_status.items()))}, socket errors {guesses.socket_errors}"
    )


def scenario_lines(result: FloodResult) -> list[str]:
    return [
        _fans_line("- real fans before the attack", result.quiet_fans),
        _fans_line("- **real fans during the attack**, names not guessed", result.other_fans)
        + " (target: p99 ≤ 1,000 ms, none refused)",
        _fans_line("- real fans during the attack whose names are guessed", result.targeted_fans),
        _owners_line(result.targeted_fans),
        _guesses_line(result.guesses),
        f"- token poll ({READ_CONNECTIONS} connections): "
        + _ratio(result.before.poll, result.during.poll, result.after.poll),
        f"- seat map ({READ_CONNECTIONS} connections): "
        + _ratio(result.before.seats, result.during.seats, result.after.seats),
    ]


def flood_section(results: list[FloodResult], hash_rate: float, settings: dict[str, object]) -> list[str]:
    """The report's section. Measurements, never a failed run: the attack's 429s and 503s are the
    defence working."""
    shown = ", ".join(f"`{key}`={value!r}" for key, value in settings.items())
    driver = results[0].guesses.generator if results else "?"
    lines = [
        "## Sign-in flood",
        "",
        f"Argon2id at the service's profile ({HASH_PROFILE}): {hash_rate:,.1f} verifications per second of one "
        "core, measured on this machine before the attack.",
        "",
        f"Each scenario: {ATTACK_CONNECTIONS} attacker connections (driven by {driver}) "
        "send sign-ins with wrong passwords as fast as they are answered, never honouring Retry-After, "
        f"for the names of {TARGETED_FANS} real fans and 200 unknown names; {FANS} real fans, each from an "
        f"address of its own, sign in every {FAN_INTERVAL:g} s before the attack and {FANS} others during it; "
        f"the rest of the API (a queue-token poll, then a seat map, {READ_CONNECTIONS} connections, closed loops) "
        "is measured before, during and after the attack (ratio: during / mean of before and after). Addresses "
        "travel as "
        "X-Forwarded-For to a service that trusts 127.0.0.1 as its proxy. Sign-in settings: "
        f"{shown} (the production defaults; the third scenario empties the sign-in limits and the challenge threshold, "
        "as Redis down does).",
        "",
    ]
    for result in results:
        lines += [f"### {result.scenario.name} ({result.seconds:g} s)", "", *scenario_lines(result), ""]
    return lines

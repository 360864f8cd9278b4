"""Rate limits per account and per client address, and the sign-in failure back-off.

Counters live in Redis, shared by every process, as the `limits` library's sliding-window
counters (one Lua call per limit checked; two for a refusal, to read when it frees); those of
queue-token issue, a hot path, are counted in each process (see ``RateLimiter``). Every limit
is a setting in that library's notation (``TICKETING_RATE_LIMIT_*``); docs/configuration.md lists them.

Only the writes that cost something are limited: sign-in (an argon2 hash), sign-up, queue-token
issue, holds and wallet charges (each a locked wallet row and a ledger row; per account only).
The hot reads (token poll, dates, seats) never reach this module.

**Sign-in under attack** (``sign_in_check``): the failure back-off counts per (name, address), so
a guesser backs off without locking the owner out; an address that signed in to an account is
remembered (a keyed hash of the pair, ``TICKETING_SIGN_IN_KNOWN_ADDRESS_DAYS``) and judged by its
own failures only; other addresses, once the name or the address failed too often or the name's
sign-ins passed their limit, are asked to solve a proof-of-work challenge (``kernel/challenge.py``)
instead of being refused.

Two process-local memories keep a flood's refusals cheap: what Redis refused is refused again
without a round trip until its Retry-After, and a client address refused by a limit of the address
(or its hashing share, ``kernel/hashing.py``) that comes back before its Retry-After is held until
then, at most ``PACE_MAX_SECONDS``, before it is answered (``paced``): 64 connections looping on
429s then cost a sleeping task each every 2 s instead of ~1,600 answers a second, and the rest of
the API keeps the CPU (`make bench`, sign-in flood).

**Redis down: fail open.** A limit check that cannot reach Redis lets the request through and logs
the outage once (then skips the checks for ``OUTAGE_SKIP_SECONDS``, so requests do not each wait
for a dead Redis). Sign-in and holds work without Redis (docs/faults.md), and a limiter outage
must not take them down with it; sign-in keeps its process-local bound meanwhile (the hashing
queue in ``kernel/security.py``), and queue-token issue answers 503 by itself without Redis.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from ticketing.config import Settings
from ticketing.kernel.errors import AddressRateLimited, RateLimited
from ticketing.kernel.local_limits import LocalSlidingWindows
from ticketing.kernel.redis import RedisClient, cluster_url, is_redis_failure

log = structlog.get_logger("ticketing.ratelimit")

OUTAGE_SKIP_SECONDS = 2.0
KEY_PREFIX = "rl"
# A client told to retry later that comes back earlier is held this long at most (then answered
# as usual): under the request deadline (5 s), long enough that a loop ignoring Retry-After sends
# one request per connection every 2 s instead of thousands a second (see ``pace``).
PACE_MAX_SECONDS = 2.0
_REMEMBERED_MAX = 100_000  # refusals remembered per process (expired ones go first when full)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RuleName = Literal["sign_in", "sign_up", "queue_join", "hold", "charge"]
# Namespaces of the failed sign-ins: per (name, address) pair (the back-off), per name and per
# address (when a new address needs a challenge); and the prefix of the known addresses' keys.
SIGN_IN_FAILURES = "sign-in-failures"
SIGN_IN_FAILURES_OF_NAME = "sign-in-failures-of-name"
SIGN_IN_FAILURES_OF_ADDRESS = "sign-in-failures-of-address"
KNOWN_PREFIX = "known:"


def limits_of(notation: str) -> tuple[RateLimitItem, ...]:
    """``"5/minute;20/hour"`` -> its tiers; ``""`` -> none (the limit is off)."""
    return tuple(parse_many(notation)) if notation.strip() else ()


@dataclass(frozen=True, slots=True)
class Rule:
    """The limits of one action, by account and by client address. ``in_process``: counted by
    each process on its own, without a Redis round trip (see ``RateLimiter``)."""

    name: str
    per_account: tuple[RateLimitItem, ...]
    per_address: tuple[RateLimitItem, ...]
    in_process: bool = False


# --- The client address -----------------------------------------------------------------------


class ClientAddress:
    """Who the client is, for the per-address limits: the socket peer, or, when the peer is a
    trusted proxy, the right-most address of ``X-Forwarded-For`` that is not a trusted proxy
    (every proxy appends its own peer, so the entries left of the first untrusted one may be
    forged by the client). IPv6 clients are counted per /64: one subscriber gets a whole /64."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, scope: Any) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if self._trusted and self._is_trusted(peer):
            forwarded = [
                part.strip()
                for name, value in scope["headers"]
                if name == b"x-forwarded-for"
                for part in value.decode("latin-1").split(",")
            ]
            for hop in reversed(forwarded):
                if hop and not self._is_trusted(hop):
                    return _bucket(hop)
        return _bucket(peer)


@functools.lru_cache(maxsize=65_536)
def _bucket(address: str) -> str:
    """The address as the limits count it; remembered, since every limited request asks it (a
    join or a hold spent some 3 % of its CPU parsing the same peer address again)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # not an address (a test client's name, or junk a proxy passed on)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def account_key(name: str) -> str:
    """A fixed-size, Redis-safe key for a name as the client typed it (case-folded as the users
    table compares names); sign-in names may hold any character."""
    return hashlib.blake2b(name.lower().encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


# --- The limiter ------------------------------------------------------------------------------


def _storage(redis: RedisClient, settings: Settings) -> Storage:
    """The `limits` Redis storage on the service's own client (same pool, bound and timeouts)
    for one server; on a cluster, `limits`' own cluster client with the same timeouts."""
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": settings.redis_timeout_seconds,
    }
    plain = cluster_url(settings.redis_url or "")
    if plain is not None:
        return RedisClusterStorage(
            "async+" + plain.replace("redis://", "redis+cluster://", 1).replace("rediss://", "rediss+cluster://", 1),
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            **options,
        )
    assert isinstance(redis, Redis)
    return _SharedClientStorage(redis)


class _SharedClientStorage(RedisStorage):
    """`limits`' Redis storage on the service's own client (its pool, bounds and timeouts, and its
    auto-pipelining: a hold's two counters share a round trip with the other requests' commands
    of the same turn, ``kernel/redis.py``). `limits` builds a client of its own in
    ``configure_bridge`` (on the pool it is given, if any); this storage hands its bridge ours
    instead. Its scripts are registered on whatever client the bridge holds, after this."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        # `limits` documents the pool option but types options as scalars.
        shared: dict[str, Any] = {"connection_pool": client.connection_pool}
        super().__init__("async+redis://", implementation="redispy", key_prefix=KEY_PREFIX, **shared)

    def configure_bridge(self) -> None:
        super().configure_bridge()
        self.bridge.storage = self._client  # type: ignore[attr-defined]


class RateLimiter:
    def __init__(self, redis: RedisClient, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.client_address = ClientAddress(settings.trusted_proxies)
        self._limiter = SlidingWindowCounterRateLimiter(_storage(redis, settings))
        # Queue-token issue is a hot path whose joins go to Redis in batches (one script call
        # for up to 100): two limiter round trips per join cost more than the join itself
        # (token issue fell from 0.25 to 0.10 x F_http in the bench). It is counted in each
        # process instead: with N server processes a client gets at most N x the limit, still a
        # bound on a flood; the one-live-token-per-fan rule bounds an account anyway. The
        # counters are `limits`' sliding windows without its storage's per-key locks, tasks and
        # expiry pass over every key (``kernel/local_limits.py``).
        self._in_process = LocalSlidingWindows()
        self._skip_until = 0.0
        s = settings
        self.sign_in = Rule(
            "sign-in", limits_of(s.rate_limit_sign_in_per_account), limits_of(s.rate_limit_sign_in_per_address)
        )
        self.sign_up = Rule(
            "sign-up", limits_of(s.rate_limit_sign_up_per_account), limits_of(s.rate_limit_sign_up_per_address)
        )
        self.queue_join = Rule(
            "queue-join",
            limits_of(s.rate_limit_queue_join_per_account),
            limits_of(s.rate_limit_queue_join_per_address),
            in_process=True,
        )
        self.hold = Rule("hold", limits_of(s.rate_limit_hold_per_account), limits_of(s.rate_limit_hold_per_address))
        self.charge = Rule("charge", limits_of(s.rate_limit_charge_per_account), ())
        self.rules: dict[RuleName, Rule] = {
            "sign_in": self.sign_in,
            "sign_up": self.sign_up,
            "queue_join": self.queue_join,
            "hold": self.hold,
            "charge": self.charge,
        }
        self.sign_in_failures = limits_of(s.rate_limit_sign_in_failures)
        self.sign_in_challenge_after = limits_of(s.challenge_sign_in_failures)
        self._redis = redis
        self._known_ttl = s.sign_in_known_address_days * 86_400
        # Addresses are kept in Redis only as a keyed hash of (name, address).
        self._pair_key = hashlib.sha256(b"ticketing sign-in pair\0" + s.jwt_secret.encode()).digest()[:32]
        # What Redis refused, until when (monotonic), per (rule or namespace, who): asked again
        # before then, the answer is the same 429 without a round trip (a refused hit is not
        # counted by `limits` either), so a flood's refusals cost no Redis call.
        self._refused_until: dict[tuple[str, str], float] = {}
        # When each client address was told to come back (an address's 429, with Retry-After).
        self._retry_at: dict[str, float] = {}
        self._sleep = asyncio.sleep  # the hold of ``pace`` (tests record it instead of waiting)

    # Every call below fails open (see the module docstring).

    def _available(self) -> bool:
        return self.enabled and time.monotonic() >= self._skip_until

    def _outage(self, error: BaseException) -> None:
        if time.monotonic() >= self._skip_until:
            log.warning("rate limits skipped: Redis unavailable", cause=repr(error), skip_seconds=OUTAGE_SKIP_SECONDS)
        self._skip_until = time.monotonic() + OUTAGE_SKIP_SECONDS

    async def hit(self, rule: Rule, *, account: str | None, address: str) -> None:
        """Count one request of ``rule`` against the account (if known) and the address; raise
        429 with Retry-After when one of them is over its limit."""
        checks: list[tuple[RateLimitItem, str]] = [(item, f"addr:{address}") for item in rule.per_address]
        if account is not None:
            checks += [(item, f"acct:{account}") for item in rule.per_account]
        if not checks or not self.enabled:
            return
        if rule.in_process:
            self._hit_here(rule, checks)
            return
        known = self._still_refused(rule.name, {who for _, who in checks})
        if known is not None:
            wait, by_address = known
            raise _refusal(rule, wait, by_address)
        if not self._available():
            return
        try:
            allowed = await asyncio.gather(*(self._limiter.hit(item, rule.name, who) for item, who in checks))
            refused = [check for check, ok in zip(checks, allowed, strict=True) if not ok]
            if refused:
                waits = await self._waits(rule.name, refused)
        except Exception as error:
            if not is_redis_failure(error):
                raise
            self._outage(error)
            return
        if refused:
            self._remember_refusals(rule.name, refused, waits)
            raise _refusal(rule, max(waits), any(who.startswith("addr:") for _, who in refused))

    def _hit_here(self, rule: Rule, checks: Sequence[tuple[RateLimitItem, str]]) -> None:
        """``hit`` for a rule counted in this process: no I/O, so no outage to fail open for."""
        windows = self._in_process
        refused = [(item, who) for item, who in checks if not windows.hit(item, rule.name, who)]
        if refused:
            wait = max(max(1, math.ceil(windows.seconds_to_reset(item, rule.name, who))) for item, who in refused)
            raise _refusal(rule, wait, any(who.startswith("addr:") for _, who in refused))

    async def blocked_for(self, namespace: str, items: Sequence[RateLimitItem], who: str) -> int | None:
        """Seconds until ``who`` may try again when a tier of ``items`` is used up, else None
        (reads only: nothing is counted)."""
        if not items or not self.enabled:
            return None
        known = self._still_refused(namespace, {who})
        if known is not None or not self._available():
            return known[0] if known else None
        try:
            free = await asyncio.gather(*(self._limiter.test(item, namespace, who) for item in items))
            used_up = [(item, who) for item, ok in zip(items, free, strict=True) if not ok]
            waits = await self._waits(namespace, used_up) if used_up else []
        except Exception as error:
            if not is_redis_failure(error):
                raise
            self._outage(error)
            return None
        if not waits:
            return None
        self._remember_refusals(namespace, used_up, waits)
        return max(waits)

    async def record(self, namespace: str, items: Sequence[RateLimitItem], who: str) -> None:
        """Count one event (a failed sign-in) in every tier of ``items``."""
        if not items or not self._available():
            return
        try:
            await asyncio.gather(*(self._limiter.hit(item, namespace, who) for item in items))
        except Exception as error:
            if not is_redis_failure(error):
                raise
            self._outage(error)

    # --- Sign-in under attack (docs/security.md) ------------------

    def _pair(self, account: str, address: str) -> str:
        who = f"{account}|{address}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(who, key=self._pair_key, digest_size=16).hexdigest()

    async def known_address(self, account: str, address: str) -> bool:
        """Whether ``address`` signed in to (or signed up) the account named ``account`` lately."""
        if not self._available():
            return False
        try:
            return bool(await self._redis.exists(f"{KNOWN_PREFIX}{self._pair(account, address)}"))
        except Exception as error:
            if not is_redis_failure(error):
                raise
            self._outage(error)
            return False

    async def remember_address(self, account: str, address: str) -> None:
        """``address`` signed in to the account: from now on (``TICKETING_SIGN_IN_KNOWN_ADDRESS_DAYS``
        after its latest sign-in) it is judged only by its own failures on that account."""
        if not self._available():
            return
        try:
            await self._redis.set(f"{KNOWN_PREFIX}{self._pair(account, address)}", b"1", ex=self._known_ttl)
        except Exception as error:
            if not is_redis_failure(error):
                raise
            self._outage(error)

    async def sign_in_check(self, account: str, address: str) -> tuple[bool, int | None]:
        """Before a sign-in's hash: 429 when this (name, address) pair is backing off after its own
        failures. Else, for an address that never signed in to the account: seconds until it may
        sign in without a challenge when the name (from any address) or the address (for any
        name) failed too often lately, or the name's sign-ins went over their limit; None when no
        challenge is needed; and first, whether the address is known to the account. A known
        address is judged by its own failures only: a guesser elsewhere can neither lock the owner
        out nor make them solve anything."""
        if not self.enabled:
            return False, None
        pair = self._pair(account, address)
        known, backing_off = await asyncio.gather(
            self.known_address(account, address), self.blocked_for(SIGN_IN_FAILURES, self.sign_in_failures, pair)
        )
        if backing_off is not None:
            raise RateLimited(
                f"Too many failed sign-ins for this account from this address; try again in {backing_off} s",
                headers={"Retry-After": str(backing_off)},
            )
        if known:
            return True, None
        attempts = Rule("sign-in", per_account=self.sign_in.per_account, per_address=())
        waits = list(
            await asyncio.gather(
                self.blocked_for(SIGN_IN_FAILURES_OF_NAME, self.sign_in_challenge_after, f"acct:{account}"),
                self.blocked_for(SIGN_IN_FAILURES_OF_ADDRESS, self.sign_in_challenge_after, f"addr:{address}"),
            )
        )
        try:
            await self.hit(attempts, account=account, address=address)
        except RateLimited as over:
            waits.append(int(over.headers.get("Retry-After", "1")))
        found = [wait for wait in waits if wait is not None]
        return False, max(found) if found else None

    async def sign_in_failed(self, account: str, address: str) -> None:
        """Count a failed sign-in: for the (name, address) pair's back-off, and for the name and
        the address, whose counts decide when new addresses need a challenge."""
        await asyncio.gather(
            self.record(SIGN_IN_FAILURES, self.sign_in_failures, self._pair(account, address)),
            self.record(SIGN_IN_FAILURES_OF_NAME, self.sign_in_challenge_after, f"acct:{account}"),
            self.record(SIGN_IN_FAILURES_OF_ADDRESS, self.sign_in_challenge_after, f"addr:{address}"),
        )

    async def _waits(self, namespace: str, refused: Sequence[tuple[RateLimitItem, str]]) -> list[int]:
        """Whole seconds (at least 1) until each refused (tier, who) frees a slot."""
        stats = await asyncio.gather(*(self._limiter.get_window_stats(item, namespace, who) for item, who in refused))
        now = time.time()
        return [max(1, math.ceil(s.reset_time - now)) for s in stats]

    # --- Refusals remembered in the process ---------------------------------------------------

    def _remember_refusals(
        self, namespace: str, refused: Sequence[tuple[RateLimitItem, str]], waits: Sequence[int]
    ) -> None:
        now = time.monotonic()
        _make_room(self._refused_until, now)
        for (_, who), wait in zip(refused, waits, strict=True):
            key = (namespace, who)
            self._refused_until[key] = max(self._refused_until.get(key, 0.0), now + wait)

    def _still_refused(self, namespace: str, whos: set[str]) -> tuple[int, bool] | None:
        """(seconds left, whether an address is refused) of refusals of ``whos`` that Redis
        answered earlier and that still hold, else None."""
        now, left, by_address = time.monotonic(), 0.0, False
        for who in whos:
            until = self._refused_until.get((namespace, who))
            if until is None:
                continue
            if until > now:
                left, by_address = max(left, until - now), by_address or who.startswith("addr:")
            else:
                del self._refused_until[(namespace, who)]
        return (math.ceil(left), by_address) if left else None

    async def pace(self, address: str) -> None:
        """Hold a request from ``address`` when it was told to retry later (Retry-After) and came
        back earlier: until then, at most ``PACE_MAX_SECONDS``; then it is answered as usual. A
        client honouring Retry-After never waits here; one that loops on the refusals costs a
        sleeping task instead of a request's work each time, and leaves the CPU to the rest of the
        API (`make bench`, sign-in flood)."""
        if not self.enabled:
            return
        retry_at = self._retry_at.get(address)
        if retry_at is None:
            return
        early = retry_at - time.monotonic()
        if early <= 0:
            self._retry_at.pop(address, None)
            return
        await self._sleep(min(early, PACE_MAX_SECONDS))

    def told_to_retry(self, address: str, retry_after: str | None) -> None:
        """``address`` was refused (a limit of the address) with this Retry-After (whole seconds)."""
        if not self.enabled or retry_after is None or not retry_after.isdigit():
            return
        now = time.monotonic()
        _make_room(self._retry_at, now)
        self._retry_at[address] = max(self._retry_at.get(address, 0.0), now + int(retry_after))


def _refusal(rule: Rule, wait: int, by_address: bool) -> RateLimited:
    error = AddressRateLimited if by_address else RateLimited
    return error(f"Too many {rule.name} requests; try again in {wait} s", headers={"Retry-After": str(wait)})


def _make_room(deadlines: dict[Any, float], now: float) -> None:
    """Keep a per-process map of deadlines bounded: when full, drop the past ones, then the oldest."""
    if len(deadlines) < _REMEMBERED_MAX:
        return
    for key in [key for key, until in deadlines.items() if until <= now]:
        del deadlines[key]
    if len(deadlines) >= _REMEMBERED_MAX:
        for key in list(deadlines)[: _REMEMBERED_MAX // 2]:
            del deadlines[key]

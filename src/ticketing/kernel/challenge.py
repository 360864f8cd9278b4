"""The proof-of-work gate: ALTCHA challenges in front of the requests a bot farm
sends by the thousand (sign-up, sign-in after failures, queue join under pressure).

A request the gate guards and that carries no valid solution is answered 428
``CHALLENGE_REQUIRED`` with a fresh challenge in the problem (``challenge: {algorithm, challenge,
maxnumber, salt, signature}``, ALTCHA's v1 format, made by the ``altcha`` package). The client
finds the number ``n`` in ``0..maxnumber`` with ``SHA-256(salt + n) == challenge`` (half of
``maxnumber`` hashes on average: about a second of a phone at the default) and sends the request
again with ``X-Altcha: base64(JSON {algorithm, challenge, number, salt, signature})``, what
ALTCHA's widget sends.

Checking a solution costs the server one SHA-256 and one HMAC, and one Redis command: no
PostgreSQL, whatever the difficulty. A challenge is

- **signed** with a key derived from the service secret (HMAC-SHA-256 of the challenge, whose
  hash covers the salt): nobody else can make one, nor change its salt;
- **expiring**: the salt carries ``expires`` (``TICKETING_CHALLENGE_TTL_SECONDS``, 5 minutes);
- **bound to one action**: the salt carries ``action`` (``sign-up``, ``sign-in:<name's key>``,
  ``join:<concert id>``); a solution for one action is refused for any other;
- **single-use**: its signature is remembered in Redis until it expires (``SET NX PX``, shared by
  every process); a second use is refused. The queue join sets that mark in its own batched
  script (``WaitingRoomService.join``: one Redis call for a batch of joins, not one per join).

Whatever is wrong with a solution (missing, not base64, not JSON, another algorithm, expired,
another action, a wrong number, a forged signature, used before), the answer is the same 428
with a fresh challenge: never a 500, and nothing was done.

**Redis down**: a solution is still checked (signature, expiry, action) and then remembered in the
process instead (until it expires), so one process accepts it once; with N processes it could be
used N times in its 5 minutes, each use still refused by the other checks of its endpoint. The
alternative, refusing every solution while Redis is down, would stop sign-in, which works
without Redis (docs/faults.md).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import msgspec
import structlog
from altcha.v1 import ChallengeOptions, create_challenge

from ticketing.config import Settings
from ticketing.kernel.errors import ChallengeRequired
from ticketing.kernel.redis import RedisClient, is_redis_failure

log = structlog.get_logger("ticketing.challenge")

CHALLENGE_HEADER = "X-Altcha"
MAX_SOLUTION_LENGTH = 2048  # a solution is ~300 characters; longer ones are refused unread
ALGORITHM: Final = "SHA-256"
KEY_PREFIX = "pow:"
_REMEMBERED_MAX = 100_000  # solutions remembered per process while Redis is down


class Challenge(msgspec.Struct):
    """What a 428 ``CHALLENGE_REQUIRED`` carries (ALTCHA's challenge JSON)."""

    algorithm: str
    challenge: str
    maxnumber: int
    salt: str
    signature: str


class _Solution(msgspec.Struct):
    """The decoded ``X-Altcha`` header (ALTCHA's payload; other members, e.g. ``took``, ignored)."""

    algorithm: str
    challenge: str
    number: int
    salt: str
    signature: str


def sign_up_action() -> str:
    return "sign-up"


def sign_in_action(account: str) -> str:
    """``account``: the name's key (``kernel.ratelimit.account_key``: case-folded, fixed size)."""
    return f"sign-in:{account}"


def join_action(concert_id: int) -> str:
    return f"join:{concert_id}"


class ChallengeGate:
    def __init__(self, redis: RedisClient, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.enabled = settings.challenge_enabled
        self.max_number = settings.challenge_max_number
        self.ttl_seconds = settings.challenge_ttl_seconds
        self._redis = redis
        self._clock = clock
        # A key of its own, derived from the service secret: a challenge signature is never a
        # valid signature of anything else the secret signs.
        self._key = hashlib.sha256(b"ticketing altcha v1\0" + settings.jwt_secret.encode()).digest()
        self._used_here: dict[str, float] = {}  # signature -> expiry (s), while Redis is down

    def issue(self, action: str) -> Challenge:
        expires = datetime.fromtimestamp(int(self._clock()) + self.ttl_seconds, UTC)
        made = create_challenge(
            ChallengeOptions(
                algorithm=ALGORITHM,
                max_number=self.max_number,
                hmac_key=self._key,
                expires=expires,
                params={"action": action},
            )
        )
        return Challenge(made.algorithm, made.challenge, made.max_number, made.salt, made.signature)

    def refusal(self, action: str, detail: str) -> ChallengeRequired:
        return ChallengeRequired(detail, challenge=self.issue(action))

    async def require(self, action: str, solution: str | None) -> None:
        """Pass once with a valid, unused solution for ``action``; else 428 with a fresh challenge.
        Nothing is checked when the gate is off (``TICKETING_CHALLENGE_ENABLED=false``)."""
        if not self.enabled:
            return
        signature, expires = self.valid(action, solution)
        if not await self._first_use(signature, expires):
            raise self.used_before(action)

    def valid(self, action: str, solution: str | None) -> tuple[str, float]:
        """(signature, expiry in epoch seconds) of a valid solution for ``action``, else 428 with a
        fresh challenge: ``require`` without the single-use mark, for a caller that marks the
        signature used in its own Redis call (the queue join, in its batched script: ``mark_ms``,
        then ``used_before`` if it was)."""
        if not solution:
            raise self.refusal(action, "This request needs a solved challenge (header X-Altcha)")
        checked = self.check(action, solution)
        if checked is None:
            raise self.refusal(action, "The X-Altcha solution is not valid for this request; solve the new challenge")
        return checked

    def used_before(self, action: str) -> ChallengeRequired:
        return self.refusal(action, "The X-Altcha solution was used before; solve the new challenge")

    def mark_ms(self, expires: float) -> int:
        """How long a used signature is remembered (ms): until its challenge expires, and a second
        more for the clocks of the processes."""
        return max(1, int((expires - self._clock()) * 1000) + 1000)

    def check(self, action: str, solution: str) -> tuple[str, float] | None:
        """(signature, expiry in epoch seconds) of the solution if it solves a challenge this service made for
        ``action`` that has not expired, else None. One SHA-256 and one HMAC; no I/O."""
        parsed = _decode(solution)
        if parsed is None or parsed.algorithm != ALGORITHM or not self._signed_here(parsed):
            return None
        # Signed by this service, so the salt is one ``issue`` made (altcha's urlencoded form):
        # read it by splitting, not with parse_qs, which cost more than the hashes (twice, with
        # altcha's own verify_solution: a tenth of a gated join's CPU in the bench).
        params: dict[str, list[str]] = {}
        for field in parsed.salt.partition("?")[2].split("&"):
            if field:
                name, _, value = field.partition("=")
                params.setdefault(name, []).append(value)
        actions, expiries = params.get("action", []), params.get("expires", [])
        if actions != [_salted(action)] or len(expiries) != 1 or not expiries[0].isdigit():
            return None
        expires = float(expiries[0])
        if expires < self._clock():
            return None
        return parsed.signature, expires

    def _signed_here(self, solution: _Solution) -> bool:
        """Whether the number solves the challenge and the challenge carries this service's
        signature: altcha's ``verify_solution`` (the salt hashed verbatim, with its delimiter),
        without its parse of the salt's parameters (``tests/test_challenge.py`` holds the two to
        the same answers)."""
        salt = solution.salt if solution.salt.endswith("&") else solution.salt + "&"
        challenge = hashlib.sha256(f"{salt}{solution.number}".encode()).hexdigest()
        signature = hmac.digest(self._key, challenge.encode(), "sha256").hex()
        return challenge == solution.challenge and hmac.compare_digest(
            signature.encode(), solution.signature.encode("utf-8", "surrogatepass")
        )

    async def _first_use(self, signature: str, expires: float) -> bool:
        ttl_ms = self.mark_ms(expires)
        try:
            # SET NX PX as a raw command: redis-py's ``set`` builds it through two argument-checking
            # decorators, a twentieth of a gated join's CPU (the reply is parsed the same way).
            first = await self._redis.execute_command("SET", KEY_PREFIX + signature, b"1", "PX", ttl_ms, "NX")
        except Exception as error:
            if not is_redis_failure(error):
                raise
            log.warning("challenge solutions remembered in this process: Redis unavailable", cause=repr(error))
            return self._first_use_here(signature, expires)
        return bool(first)

    def _first_use_here(self, signature: str, expires: float) -> bool:
        now = self._clock()
        if len(self._used_here) >= _REMEMBERED_MAX:
            for key in [key for key, until in self._used_here.items() if until < now]:
                del self._used_here[key]
            if len(self._used_here) >= _REMEMBERED_MAX:
                return False  # full of live solutions: refuse rather than forget one
        if self._used_here.get(signature, 0.0) >= now:
            return False
        self._used_here[signature] = expires
        return True


@functools.lru_cache(maxsize=4096)
def _salted(action: str) -> str:
    """The action as a salt carries it (urlencoded): one per concert's join, made once."""
    return urllib.parse.quote_plus(action)


def _decode(solution: str) -> _Solution | None:
    if len(solution) > MAX_SOLUTION_LENGTH:
        return None
    try:
        raw = base64.b64decode(solution.encode("ascii"), validate=True)
        return msgspec.json.decode(raw, type=_Solution)
    except (UnicodeEncodeError, binascii.Error, ValueError, msgspec.DecodeError):
        return None


def solve(challenge: Challenge) -> str:
    """The ``X-Altcha`` header that answers ``challenge`` (the harnesses and tests: a client does
    this in the page, ``static/app.js``)."""
    for number in range(challenge.maxnumber + 1):
        if hashlib.sha256(f"{challenge.salt}{number}".encode()).hexdigest() == challenge.challenge:
            payload = {
                "algorithm": challenge.algorithm,
                "challenge": challenge.challenge,
                "number": number,
                "salt": challenge.salt,
                "signature": challenge.signature,
            }
            return base64.b64encode(msgspec.json.encode(payload)).decode()
    raise ValueError("challenge has no solution up to its maxnumber")

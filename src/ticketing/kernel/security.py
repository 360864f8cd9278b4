"""Passwords (argon2id) and access tokens (JWT, HS256).

Passwords use argon2id at OWASP's minimum profile (m = 19 MiB, t = 2, p = 1): ~20 ms of one core,
**~50 verifications per second per core** measured on the 2-core machine (one thread, a quiet
moment: 50 and 48; `make bench` measures and prints it before its sign-in flood: 46.6 to 54.1 in
seven runs).
The library's default (t = 3, 64 MiB, p = 4) managed ~4 per second per core, and 16 clients
guessing passwords queued a fan's sign-in for seconds. Older hashes still verify, and are rehashed
to this profile on the next sign-in.

Hashes run off the event loop, on the low-priority threads of ``kernel/hashing.py``, shared fairly
among client addresses (a share per address, round-robin turns, a slow lane for addresses that
sent wrong passwords, a bounded waiting room answering 503 at once): ``client`` below is the
caller's address.
"""

from __future__ import annotations

import base64
import functools
import hmac
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ticketing.kernel.hashing import LOCAL, password_checks
from ticketing.kernel.ids import canonical_positive_int

Role = Literal["fan", "admin", "door"]
# Door staff (``door``) may check tickets in and read a date's door count, nothing else of the
# operators'; operators create them (``POST /api/v1/admin/door-staff``).
ROLES: frozenset[str] = frozenset(("fan", "admin", "door"))

# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19456 KiB, t=2, p=1.
HASH_PROFILE = "argon2id, m = 19 MiB, t = 2, p = 1"


def password_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


_hasher = password_hasher()


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: one argon2 hash costs every process's start-up ~0.1 s."""
    return _hasher.hash("timing-equaliser-for-unknown-users")


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str, *, client: str = LOCAL) -> str:
    """``client``: the caller's address, whose turn and share of the hashing threads it takes."""
    return await password_checks.run(client, functools.partial(_hasher.hash, password))


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        # An unknown user still pays for one verification, so timing does not reveal names.
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _verify_and_upgrade(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    if not _verify(stored_hash, password):
        return False, None
    assert stored_hash is not None
    # A hash made with older parameters is replaced while the password is at hand (one more
    # hash, once per account, on the same thread and in the same turn).
    return True, _hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None


async def verify_password(stored_hash: str | None, password: str, *, client: str = LOCAL) -> bool:
    """A wrong password moves ``client`` to the hashing queue's slow lane."""
    return await password_checks.run(
        client, functools.partial(_verify, stored_hash, password), wrong=lambda right: not right
    )


async def verify_password_for_sign_in(
    stored_hash: str | None, password: str, *, client: str = LOCAL, known: bool = False
) -> tuple[bool, str | None]:
    """(password right, a new hash to store when the stored one has outdated parameters). A wrong
    password (or an unknown name) moves ``client`` to the hashing queue's slow lane. ``known``:
    ``client`` signed in to this account before (its hash goes first, ``kernel/hashing.py``)."""
    return await password_checks.run(
        client,
        functools.partial(_verify_and_upgrade, stored_hash, password),
        wrong=lambda outcome: not outcome[0],
        known=known,
    )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as read from a verified access token (no database round trip)."""

    user_id: int
    name: str
    role: Role
    # The account's token version when the token was issued (claim ``ver``; tokens without one
    # are version 0): a sign-out or password change bumps the account's, revoking older tokens.
    token_version: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def at_the_door(self) -> bool:
        """May check tickets in: door staff and operators."""
        return self.role in ("admin", "door")


ALGORITHM = "HS256"


def issue_access_token(principal: Principal, *, secret: str, ttl_seconds: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": str(principal.user_id),
        "name": principal.name,
        "role": principal.role,
        "ver": principal.token_version,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# Verified tokens, remembered until they expire: a fan sends the same token on every request of
# a sale, and an HS256 check costs ~30 µs of CPU that the same string cannot change the outcome
# of. Bounded: the oldest half is dropped when full.
_VERIFIED_MAX = 100_000
_verified: dict[tuple[str, str], tuple[Principal, float]] = {}


# The header segment of every token this service issues (PyJWT's encoding of HS256 and JWT).
_ISSUED_HEADER = jwt.encode({}, "h" * 64, algorithm=ALGORITHM).partition(".")[0]
# The claims it puts in them (``issue_access_token``).
_ISSUED_CLAIMS = frozenset({"sub", "name", "role", "ver", "iat", "exp"})


def _issued_here(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a token exactly as this service issues them — its header segment, its
    signature by ``secret`` in canonical base64url, a JSON object of its own claims with integer
    times — without PyJWT's general path (measured: a third of its CPU, on a fan's first request). None for any
    other token, whatever it is: PyJWT then decides (hostile input keeps the reference path;
    tests/unit/test_access_tokens.py holds the two to the same answers on a corpus)."""
    header, _, rest = token.partition(".")
    payload, dot, signature = rest.partition(".")
    if header != _ISSUED_HEADER or not dot or not signature.isascii():
        return None
    signed = hmac.digest(secret.encode(), f"{header}.{payload}".encode(), "sha256")
    if not hmac.compare_digest(base64.urlsafe_b64encode(signed).rstrip(b"="), signature.encode()):
        return None
    try:
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, msgspec.DecodeError):
        return None
    if not isinstance(claims, dict) or not claims.keys() <= _ISSUED_CLAIMS:
        return None
    if any(name in claims and type(claims[name]) is not int for name in ("iat", "exp")):
        return None
    return claims


def _in_force(claims: dict[str, Any]) -> bool:
    """PyJWT's checks of the claims ``_issued_here`` lets through (``require`` sub and exp)."""
    now = time.time()
    exp, iat = claims.get("exp"), claims.get("iat", 0)
    return claims.get("sub") is not None and isinstance(exp, int) and exp > now and isinstance(iat, int) and iat <= now


def read_access_token(token: str, *, secret: str) -> Principal | None:
    key = (secret, token)
    cached = _verified.get(key)
    if cached is not None:
        if cached[1] > time.time():
            return cached[0]
        del _verified[key]
    try:
        claims = _issued_here(token, secret)
        if claims is None:
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
        elif not _in_force(claims):
            return None
        principal = _principal_of(claims)
        if principal is None:
            return None
        expires_at = float(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if len(_verified) >= _VERIFIED_MAX:
        for stale in list(_verified)[: _VERIFIED_MAX // 2]:
            del _verified[stale]
    _verified[key] = (principal, expires_at)
    return principal


def _principal_of(claims: dict[str, Any]) -> Principal | None:
    role = claims.get("role", "fan")
    if role not in ROLES:
        return None
    version = claims.get("ver", 0)
    if type(version) is not int or not 0 <= version < 2**31:  # the users.token_version column
        return None
    # Only ids this service issues: ASCII digits within bigint (int() reads "٣" and 2**64
    # reached PostgreSQL as an overflow, a 500).
    user_id = canonical_positive_int(claims["sub"]) if isinstance(claims["sub"], str) else None
    if user_id is None:
        return None
    return Principal(user_id=user_id, name=str(claims.get("name", "")), role=role, token_version=version)

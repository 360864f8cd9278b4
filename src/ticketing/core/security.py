"""Passwords (argon2id) and access tokens (JWT, HS256).

Passwords use argon2id at OWASP's minimum profile (m = 19 MiB, t = 2, p = 1): about 36 ms of one
core, ~28 hashes per second per core measured here (the library's default, t = 3, 64 MiB, p = 4,
was ~4 per second per core, and 16 clients guessing passwords queued a fan's sign-in for
seconds). Older hashes still verify, and are rehashed to this profile on the next sign-in.

A hash runs in a small capped thread pool so it never blocks the event loop, and at most
``TICKETING_PASSWORD_HASH_QUEUE`` hashes wait for it per process: beyond that a sign-in (or
sign-up) answers 503 with Retry-After at once, instead of queueing for seconds behind a flood.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ticketing.core.errors import ServiceUnavailable
from ticketing.core.text import positive_id

Role = Literal["fan", "admin"]
_T = TypeVar("_T")

# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19456 KiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_executor: ThreadPoolExecutor | None = None
_threads = 2
_max_in_flight = 2 + 4  # hashing threads + waiting room, set by configure_hash_threads
_in_flight = 0  # read and changed on the event loop only
HASH_BUSY_RETRY_AFTER = "1"


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: one argon2 hash costs every process's start-up ~0.1 s."""
    return _hasher.hash("timing-equaliser-for-unknown-users")


def configure_hash_threads(threads: int, queue: int = 4) -> None:
    global _executor, _threads, _max_in_flight  # noqa: PLW0603 - one pool per process, sized at start-up
    if _executor is None:
        _threads = max(1, threads)
        _executor = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="argon2")
    _max_in_flight = _threads + max(0, queue)


def _pool() -> ThreadPoolExecutor:
    if _executor is None:  # a caller that never configured it (a CLI command, a test)
        configure_hash_threads(_threads, _max_in_flight - _threads)
    assert _executor is not None
    return _executor


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


def _on_hashing_thread(work: Callable[..., _T], *args: object) -> Awaitable[_T]:
    """Run ``work`` on the hashing pool, or refuse at once (503) when the pool's waiting room is
    full: a flood of sign-ins then costs each a quick refusal, and a fan waits behind at most
    the queue's length, not behind every guess in flight."""
    global _in_flight  # noqa: PLW0603 - one counter per process, touched on the event loop only
    pool = _pool()
    if _in_flight >= _max_in_flight:
        raise ServiceUnavailable(
            "Too many sign-ins at once; try again shortly", headers={"Retry-After": HASH_BUSY_RETRY_AFTER}
        )
    loop = asyncio.get_running_loop()
    _in_flight += 1
    work_done = pool.submit(work, *args)

    def release() -> None:
        global _in_flight  # noqa: PLW0603
        _in_flight -= 1

    def finished(_: object) -> None:  # on the hashing thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to count
            loop.call_soon_threadsafe(release)

    # Released when the hash finishes, not when its caller stops waiting: a cancelled request
    # leaves its hash running on the pool, and it still takes a place until then.
    work_done.add_done_callback(finished)
    return asyncio.wrap_future(work_done, loop=loop)


async def hash_password(password: str) -> str:
    return await _on_hashing_thread(_hasher.hash, password)


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
    # hash, once per account, on the same thread and in the same place of the queue).
    return True, _hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None


async def verify_password(stored_hash: str | None, password: str) -> bool:
    return await _on_hashing_thread(_verify, stored_hash, password)


async def verify_password_for_sign_in(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(password right, a new hash to store when the stored one has outdated parameters)."""
    return await _on_hashing_thread(_verify_and_upgrade, stored_hash, password)


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


def read_access_token(token: str, *, secret: str) -> Principal | None:
    key = (secret, token)
    cached = _verified.get(key)
    if cached is not None:
        if cached[1] > time.time():
            return cached[0]
        del _verified[key]
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
        role = claims.get("role", "fan")
        if role not in ("fan", "admin"):
            return None
        version = claims.get("ver", 0)
        if type(version) is not int or not 0 <= version < 2**31:  # the users.token_version column
            return None
        # Only ids this service issues: ASCII digits within bigint (int() reads "٣" and 2**64
        # reached PostgreSQL as an overflow, a 500).
        user_id = positive_id(claims["sub"]) if isinstance(claims["sub"], str) else None
        if user_id is None:
            return None
        principal = Principal(user_id=user_id, name=str(claims.get("name", "")), role=role, token_version=version)
        expires_at = float(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if len(_verified) >= _VERIFIED_MAX:
        for stale in list(_verified)[: _VERIFIED_MAX // 2]:
            del _verified[stale]
    _verified[key] = (principal, expires_at)
    return principal

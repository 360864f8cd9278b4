"""Passwords (argon2id) and access tokens (JWT, HS256).

A password hash costs ~100 ms of CPU: it runs in a small capped thread pool so it never blocks
the event loop, and a burst of sign-ins queues there instead of starving every other request.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

Role = Literal["fan", "admin"]

_hasher = PasswordHasher()
_executor: ThreadPoolExecutor | None = None


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: one argon2 hash costs every process's start-up ~0.1 s."""
    return _hasher.hash("timing-equaliser-for-unknown-users")


def configure_hash_threads(threads: int) -> None:
    global _executor  # noqa: PLW0603 - one pool per process, sized from settings at start-up
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="argon2")


def _pool() -> ThreadPoolExecutor:
    configure_hash_threads(2)
    assert _executor is not None
    return _executor


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool(), _hasher.hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        # An unknown user still pays for one verification, so timing does not reveal names.
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_pool(), _verify, stored_hash, password)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as read from a verified access token (no database round trip)."""

    user_id: int
    name: str
    role: Role

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
        principal = Principal(user_id=int(claims["sub"]), name=str(claims.get("name", "")), role=role)
        expires_at = float(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if len(_verified) >= _VERIFIED_MAX:
        for stale in list(_verified)[: _VERIFIED_MAX // 2]:
            del _verified[stale]
    _verified[key] = (principal, expires_at)
    return principal

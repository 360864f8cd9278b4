"""The rate limits at the HTTP edge: the hooks limited endpoints call (the limiter itself is
``kernel.ratelimit``, the process's one from the wiring)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.connection import ASGIConnection

from ticketing.container import services
from ticketing.kernel.errors import AddressRateLimited
from ticketing.kernel.ratelimit import RuleName


async def enforce(
    connection: ASGIConnection[Any, Any, Any, Any], rule: RuleName, *, account: str | None, address: str | None = None
) -> None:
    """The hook of a limited endpoint: count this request against ``account`` (a user id, or
    :func:`account_key` of a typed name) and the client's address (``address`` when the caller
    already has it from :func:`client_address`); 429 with Retry-After when over."""
    limiter = services(connection).rate_limits
    if limiter.enabled:
        where = address if address is not None else limiter.client_address.of(connection.scope)
        await limiter.hit(limiter.rules[rule], account=account, address=where)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address as the per-address limits count it (``TICKETING_TRUSTED_PROXIES``)."""
    limiter = services(connection).rate_limits
    return limiter.client_address.of(connection.scope)


@asynccontextmanager
async def paced(connection: ASGIConnection[Any, Any, Any, Any], address: str) -> AsyncIterator[None]:
    """Around a limited request: held first if ``address`` came back before its Retry-After
    (:meth:`RateLimiter.pace`); a refusal of the address (a limit or share of the address, not of
    an account: one fan over their own limit must not slow everyone behind the same NAT) raised
    inside is remembered."""
    limiter = services(connection).rate_limits
    await limiter.pace(address)
    try:
        yield
    except AddressRateLimited as refusal:
        limiter.told_to_retry(address, refusal.headers.get("Retry-After"))
        raise

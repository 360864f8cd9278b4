"""Idempotency-Key handling for money-moving requests (charges, payments).

The key is scoped per user and stored in the same transaction as the money movement, so a
retried request either sees the stored response or executes exactly once:

1. ``replay`` (before any other check, outside the transaction): a stored response is returned
   as it was, even if the queue token has since finished.
2. ``claim`` (inside the use case's unit of work): insert the key; a concurrent request with the
   same key waits on the unique index until the first commits, then replays its response.
3. ``remember`` (same unit of work, before commit): store the response body.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from ticketing.idempotency.repository import IdempotencyRepository, StoredResponse
from ticketing.kernel.errors import IdempotencyKeyInUse, IdempotencyKeyReused, ValidationError
from ticketing.kernel.ids import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY_LENGTH
from ticketing.kernel.locking import LockTimeout
from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory

# The header parameter (edge.params.IdempotencyKeyHeader) refuses a malformed key before the
# request is looked at; this check keeps the service safe for any other caller.
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    user_id: int
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class StoredReply:
    status_code: int
    body: bytes


def idempotent_request(user_id: int, key: str | None, method: str, path: str, body: bytes) -> IdempotentRequest | None:
    """``body`` should be the canonical encoding of the parsed request, so that whitespace or
    key order do not make the same request look different."""
    if key is None:
        return None
    if _KEY.match(key) is None:
        raise ValidationError(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (no space)"
        )
    digest = hashlib.sha256(method.upper().encode() + b"\0" + path.encode() + b"\0" + body).hexdigest()
    return IdempotentRequest(user_id=user_id, key=key, request_hash=digest)


class IdempotencyService:
    def __init__(self, uow_factory: UnitOfWorkFactory, ttl_hours: int) -> None:
        self._uow_factory = uow_factory
        self.ttl = timedelta(hours=ttl_hours)

    async def replay(self, request: IdempotentRequest | None) -> StoredReply | None:
        if request is None:
            return None
        async with self._uow_factory(autocommit=True) as uow:
            stored = await uow.repo(IdempotencyRepository).find(request.user_id, request.key)
        return self._check(request, stored) if stored else None

    async def claim(self, uow: UnitOfWork, request: IdempotentRequest | None) -> StoredReply | None:
        """Returns the stored reply when another request with this key already completed."""
        if request is None:
            return None
        repo = uow.repo(IdempotencyRepository)
        try:
            if await repo.claim(request.user_id, request.key, request.request_hash):
                return None
        except LockTimeout as error:
            raise IdempotencyKeyInUse() from error
        stored = await repo.find(request.user_id, request.key)
        if stored is None:  # the first request rolled back between our insert and our read
            raise IdempotencyKeyInUse()
        return self._check(request, stored)

    async def remember(self, uow: UnitOfWork, request: IdempotentRequest | None, status_code: int, body: bytes) -> None:
        if request is not None:
            await uow.repo(IdempotencyRepository).store(request.user_id, request.key, status_code, body)

    async def purge_expired(self) -> int:
        async with self._uow_factory() as uow:
            repo = uow.repo(IdempotencyRepository)
            removed = await repo.delete_older_than(await repo.now() - self.ttl)
            await uow.commit()
        return removed

    @staticmethod
    def _check(request: IdempotentRequest, stored: StoredResponse) -> StoredReply:
        if stored.request_hash != request.request_hash:
            raise IdempotencyKeyReused()
        if stored.status_code == 0:
            raise IdempotencyKeyInUse()
        return StoredReply(stored.status_code, stored.body)

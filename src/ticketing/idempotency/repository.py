from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketing.kernel.db import Database


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: bytes


class IdempotencyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, user_id: int, key: str) -> StoredResponse | None:
        sql = "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2"
        row = await self.db.fetchrow(sql, user_id, key)
        return StoredResponse(row[0], row[1], bytes(row[2])) if row else None

    async def claim(self, user_id: int, key: str, request_hash: str) -> bool:
        """Insert a placeholder row for the key. A concurrent transaction claiming the same key
        waits on the unique index until this one commits or rolls back, so exactly one request
        executes; returns False when another transaction already stored the key."""
        sql = (
            "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body) "
            "VALUES ($1, $2, $3, 0, '') ON CONFLICT (user_id, key) DO NOTHING RETURNING user_id"
        )
        return await self.db.fetchval(sql, user_id, key, request_hash) is not None

    async def store(self, user_id: int, key: str, status_code: int, body: bytes) -> None:
        sql = "UPDATE idempotency_keys SET status_code = $3, response_body = $4 WHERE user_id = $1 AND key = $2"
        await self.db.execute(sql, user_id, key, status_code, body)

    async def delete_older_than(self, cutoff: datetime) -> int:
        status = await self.db.execute("DELETE FROM idempotency_keys WHERE created_at < $1", cutoff)
        return int(status.split()[-1])  # the command tag: "DELETE <count>"

    async def now(self) -> datetime:
        value: datetime = await self.db.fetchval("SELECT now()")
        return value

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.core.locking import translate_db_errors
from ticketing.idempotency.models import IdempotencyRecord


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: bytes


class IdempotencyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def find(self, user_id: int, key: str) -> StoredResponse | None:
        stmt = select(
            IdempotencyRecord.request_hash, IdempotencyRecord.status_code, IdempotencyRecord.response_body
        ).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return StoredResponse(row[0], row[1], bytes(row[2])) if row else None

    async def claim(self, user_id: int, key: str, request_hash: str) -> bool:
        """Insert a placeholder row for the key. A concurrent transaction claiming the same key
        waits on the unique index until this one commits or rolls back, so exactly one request
        executes; returns False when another transaction already stored the key."""
        stmt = (
            insert(IdempotencyRecord)
            .values(user_id=user_id, key=key, request_hash=request_hash, status_code=0, response_body=b"")
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(IdempotencyRecord.user_id)
        )
        with translate_db_errors():
            return (await self.conn.execute(stmt)).first() is not None

    async def store(self, user_id: int, key: str, status_code: int, body: bytes) -> None:
        stmt = (
            update(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
            .values(status_code=status_code, response_body=body)
        )
        with translate_db_errors():
            await self.conn.execute(stmt)

    async def delete_older_than(self, cutoff: datetime) -> int:
        with translate_db_errors():
            result = await self.conn.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
        return int(result.rowcount or 0)

    async def now(self) -> datetime:
        with translate_db_errors():
            return (await self.conn.execute(select(func.now()))).scalar_one()

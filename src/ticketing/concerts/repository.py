from __future__ import annotations

from ticketing.concerts.schemas import ConcertOut
from ticketing.kernel.db import Connection, required
from ticketing.kernel.locking import translate_db_errors

COLUMNS = "id, title, venue, description"


class ConcertRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, title: str, venue: str | None, description: str | None) -> ConcertOut:
        sql = f"INSERT INTO concerts (title, venue, description) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        with translate_db_errors():
            return ConcertOut(*required(await self.conn.fetchrow(sql, title, venue, description)))

    async def get(self, concert_id: int) -> ConcertOut | None:
        with translate_db_errors():
            row = await self.conn.fetchrow(f"SELECT {COLUMNS} FROM concerts WHERE id = $1", concert_id)
        return ConcertOut(*row) if row else None

    async def many(self, concert_ids: list[int]) -> list[ConcertOut]:
        with translate_db_errors():
            rows = await self.conn.fetch(f"SELECT {COLUMNS} FROM concerts WHERE id = ANY($1::bigint[])", concert_ids)
        return [ConcertOut(*row) for row in rows]

    async def exists(self, concert_id: int) -> bool:
        with translate_db_errors():
            return bool(await self.conn.fetchval("SELECT EXISTS (SELECT 1 FROM concerts WHERE id = $1)", concert_id))

    async def all(self) -> list[ConcertOut]:
        with translate_db_errors():
            rows = await self.conn.fetch(f"SELECT {COLUMNS} FROM concerts ORDER BY id")
        return [ConcertOut(*row) for row in rows]

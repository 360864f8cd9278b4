from __future__ import annotations

from ticketing.concerts.schemas import ConcertListItem, ConcertOut, sale_state
from ticketing.kernel.db import Connection, required
from ticketing.kernel.locking import translate_db_errors
from ticketing.schedules.sql import sale_of_concert

COLUMNS = "id, title, venue, description"


class ConcertRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, title: str, venue: str | None, description: str | None) -> ConcertOut:
        sql = f"INSERT INTO concerts (title, venue, description) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        with translate_db_errors():
            return ConcertOut(*required(await self.conn.fetchrow(sql, title, venue, description)))

    async def update(self, concert_id: int, changes: dict[str, str | None]) -> ConcertOut | None:
        """Set the given columns (of title, venue, description); None for an unknown concert."""
        columns = [name for name in ("title", "venue", "description") if name in changes]
        if not columns:
            return await self.get(concert_id)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
        sql = f"UPDATE concerts SET {assignments} WHERE id = $1 RETURNING {COLUMNS}"
        with translate_db_errors():
            row = await self.conn.fetchrow(sql, concert_id, *(changes[name] for name in columns))
        return ConcertOut(*row) if row else None

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

    async def all_with_sale(self) -> list[ConcertListItem]:
        sql = f"SELECT {COLUMNS}, {sale_of_concert('concerts.id')} FROM concerts ORDER BY id"
        with translate_db_errors():
            rows = await self.conn.fetch(sql)
        return [
            ConcertListItem(
                id=row[0],
                title=row[1],
                venue=row[2],
                description=row[3],
                sale_state=sale_state(row[4], row[5], row[6], row[7]),
                sale_opens_at=row[5],
            )
            for row in rows
        ]

from __future__ import annotations

from ticketing.concerts.schemas import ConcertListItem, ConcertOut, sale_state
from ticketing.kernel.db import Database, required
from ticketing.schedules.sql import sale_of_concert

COLUMNS = "id, title, venue, description"


class ConcertRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, title: str, venue: str | None, description: str | None) -> ConcertOut:
        sql = f"INSERT INTO concerts (title, venue, description) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        return ConcertOut(*required(await self.db.fetchrow(sql, title, venue, description)))

    async def update(self, concert_id: int, changes: dict[str, str | None]) -> ConcertOut | None:
        """Set the given columns (of title, venue, description); None for an unknown concert."""
        columns = [name for name in ("title", "venue", "description") if name in changes]
        if not columns:
            return await self.get(concert_id)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
        sql = f"UPDATE concerts SET {assignments} WHERE id = $1 RETURNING {COLUMNS}"
        row = await self.db.fetchrow(sql, concert_id, *(changes[name] for name in columns))
        return ConcertOut(*row) if row else None

    async def get(self, concert_id: int) -> ConcertOut | None:
        row = await self.db.fetchrow(f"SELECT {COLUMNS} FROM concerts WHERE id = $1", concert_id)
        return ConcertOut(*row) if row else None

    async def many(self, concert_ids: list[int]) -> list[ConcertOut]:
        rows = await self.db.fetch(f"SELECT {COLUMNS} FROM concerts WHERE id = ANY($1::bigint[])", concert_ids)
        return [ConcertOut(*row) for row in rows]

    async def exists(self, concert_id: int) -> bool:
        return bool(await self.db.fetchval("SELECT EXISTS (SELECT 1 FROM concerts WHERE id = $1)", concert_id))

    async def all(self) -> list[ConcertOut]:
        rows = await self.db.fetch(f"SELECT {COLUMNS} FROM concerts ORDER BY id")
        return [ConcertOut(*row) for row in rows]

    async def set_sale_paused(self, concert_id: int, paused: bool) -> bool:
        """Record the operator's pause (or resume), keeping the row locked until the transaction
        ends; False for an unknown concert."""
        sql = "UPDATE concerts SET sale_paused = $2 WHERE id = $1 RETURNING id"
        return await self.db.fetchval(sql, concert_id, paused) is not None

    async def lock_paused(self) -> list[int]:
        """The paused concerts, share-locked until the transaction ends (a pause or resume being
        written holds its row and is skipped: it writes the Redis flag itself)."""
        sql = "SELECT id FROM concerts WHERE sale_paused ORDER BY id FOR SHARE SKIP LOCKED"
        return [row[0] for row in await self.db.lock_fetch(sql)]

    async def all_with_sale(self) -> list[ConcertListItem]:
        sql = f"SELECT {COLUMNS}, {sale_of_concert('concerts.id')}, sale_paused FROM concerts ORDER BY id"
        rows = await self.db.fetch(sql)
        return [
            ConcertListItem(
                id=row[0],
                title=row[1],
                venue=row[2],
                description=row[3],
                sale_state=sale_state(row[4], row[5], row[6], row[7], paused=row[8]),
                sale_opens_at=row[5],
            )
            for row in rows
        ]

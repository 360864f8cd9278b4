from __future__ import annotations

from sqlalchemy import exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.concerts.models import Concert
from ticketing.concerts.schemas import ConcertOut
from ticketing.core.locking import translate_db_errors

_columns = (Concert.id, Concert.title, Concert.venue, Concert.description)


class ConcertRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, title: str, venue: str | None, description: str | None) -> ConcertOut:
        stmt = insert(Concert).values(title=title, venue=venue, description=description).returning(*_columns)
        with translate_db_errors():
            return ConcertOut(*(await self.conn.execute(stmt)).one())

    async def get(self, concert_id: int) -> ConcertOut | None:
        with translate_db_errors():
            row = (await self.conn.execute(select(*_columns).where(Concert.id == concert_id))).first()
        return ConcertOut(*row) if row else None

    async def exists(self, concert_id: int) -> bool:
        with translate_db_errors():
            return bool(await self.conn.scalar(select(exists().where(Concert.id == concert_id))))

    async def all(self) -> list[ConcertOut]:
        with translate_db_errors():
            rows = (await self.conn.execute(select(*_columns).order_by(Concert.id))).all()
        return [ConcertOut(*row) for row in rows]

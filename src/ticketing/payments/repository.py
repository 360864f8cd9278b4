from __future__ import annotations

from ticketing.core.db import Connection, required
from ticketing.core.locking import translate_db_errors
from ticketing.payments.schemas import PaymentOut

COLUMNS = "id, reservation_id, user_id, amount, paid_at"


class PaymentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, reservation_id: int, user_id: int, amount: int) -> PaymentOut:
        sql = f"INSERT INTO payments (reservation_id, user_id, amount) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        with translate_db_errors():
            return PaymentOut(*required(await self.conn.fetchrow(sql, reservation_id, user_id, amount)))

    async def page_of_user(self, user_id: int, before_id: int, limit: int) -> list[PaymentOut]:
        sql = f"SELECT {COLUMNS} FROM payments WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        with translate_db_errors():
            rows = await self.conn.fetch(sql, user_id, before_id, limit)
        return [PaymentOut(*row) for row in rows]

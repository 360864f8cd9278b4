from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.core.locking import translate_db_errors
from ticketing.payments.models import Payment
from ticketing.payments.schemas import PaymentOut

_columns = (Payment.id, Payment.reservation_id, Payment.user_id, Payment.amount, Payment.paid_at)


class PaymentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, reservation_id: int, user_id: int, amount: int) -> PaymentOut:
        stmt = (
            insert(Payment).values(reservation_id=reservation_id, user_id=user_id, amount=amount).returning(*_columns)
        )
        with translate_db_errors():
            return PaymentOut(*(await self.conn.execute(stmt)).one())

    async def page_of_user(self, user_id: int, before_id: int | None, limit: int) -> list[PaymentOut]:
        stmt = select(*_columns).where(Payment.user_id == user_id)
        if before_id is not None:
            stmt = stmt.where(Payment.id < before_id)
        with translate_db_errors():
            rows = (await self.conn.execute(stmt.order_by(Payment.id.desc()).limit(limit))).all()
        return [PaymentOut(*row) for row in rows]

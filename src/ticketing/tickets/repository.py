"""The ``tickets`` table: every statement that writes it is here, except the issue of a ticket,
which is part of the payment's one statement (the fragment of ``sql.py``)."""

from __future__ import annotations

from ticketing.kernel.db import Database
from ticketing.tickets.schemas import TicketRow

COLUMNS = (
    "id, code, status, user_id, concert_id, schedule_id, seat_id, seat_number, reservation_id, payment_id, "
    "checked_in_at"
)


class TicketRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, ticket_id: int) -> TicketRow | None:
        row = await self.db.fetchrow(f"SELECT {COLUMNS} FROM tickets WHERE id = $1", ticket_id)
        return TicketRow(*row) if row else None

    async def by_code(self, code: str) -> TicketRow | None:
        row = await self.db.fetchrow(f"SELECT {COLUMNS} FROM tickets WHERE code = $1", code)
        return TicketRow(*row) if row else None

    async def of_payment(self, payment_id: int) -> TicketRow | None:
        row = await self.db.fetchrow(f"SELECT {COLUMNS} FROM tickets WHERE payment_id = $1", payment_id)
        return TicketRow(*row) if row else None

    async def page_of_user(self, user_id: int, before_id: int, limit: int) -> list[TicketRow]:
        sql = f"SELECT {COLUMNS} FROM tickets WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        rows = await self.db.fetch(sql, user_id, before_id, limit)
        return [TicketRow(*row) for row in rows]

    async def check_in(self, code: str, schedule_id: int | None = None) -> TicketRow | None:
        """VALID -> USED in one conditional statement: of doors scanning one code at once, the
        first takes the row lock and the others, once it commits, find it no longer VALID. With
        ``schedule_id`` (the door's date) a ticket of another date matches no row and stays as it
        was. None: not checked in now (unknown, used, refunded or another date's: the caller reads
        again to say which)."""
        sql = (
            "UPDATE tickets SET status = 'USED', checked_in_at = now(), updated_at = now() "
            "WHERE code = $1 AND status = 'VALID' AND ($2::bigint IS NULL OR schedule_id = $2) "
            f"RETURNING {COLUMNS}"
        )
        row = await self.db.fetchrow(sql, code, schedule_id)
        return TicketRow(*row) if row else None

    async def door_count(self, schedule_id: int) -> tuple[int, int]:
        """(checked in, sold: valid or checked in) of one date."""
        sql = (
            "SELECT count(*) FILTER (WHERE status = 'USED'), count(*) FILTER (WHERE status <> 'REFUNDED') "
            "FROM tickets WHERE schedule_id = $1"
        )
        row = await self.db.fetchrow(sql, schedule_id)
        assert row is not None
        return int(row[0]), int(row[1])

    async def page_of_schedule(
        self, schedule_id: int, status: str | None, before_id: int, limit: int
    ) -> list[TicketRow]:
        sql = (
            f"SELECT {COLUMNS} FROM tickets WHERE schedule_id = $1 AND ($2::text IS NULL OR status = $2) "
            "AND id < $3 ORDER BY id DESC LIMIT $4"
        )
        rows = await self.db.fetch(sql, schedule_id, status, before_id, limit)
        return [TicketRow(*row) for row in rows]

    async def all_of_schedule(self, schedule_id: int) -> list[TicketRow]:
        """Every ticket of a date, by seat number (the CSV export)."""
        sql = f"SELECT {COLUMNS} FROM tickets WHERE schedule_id = $1 ORDER BY seat_number, id"
        rows = await self.db.fetch(sql, schedule_id)
        return [TicketRow(*row) for row in rows]

    async def void_for_refund(self, payment_id: int) -> TicketRow | None:
        """VALID -> REFUNDED, the same conditional write as a check-in, so a refund racing a
        check-in of the ticket is decided by the row lock: exactly one of them wins. None: not
        VALID (or no ticket)."""
        sql = (
            "UPDATE tickets SET status = 'REFUNDED', updated_at = now() "
            f"WHERE payment_id = $1 AND status = 'VALID' RETURNING {COLUMNS}"
        )
        row = await self.db.fetchrow(sql, payment_id)
        return TicketRow(*row) if row else None

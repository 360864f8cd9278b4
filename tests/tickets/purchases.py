"""Box-office fixtures: fans who bought seats through the real hold and payment use
cases, so that every ticket is issued by the payment's own statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from tests.factories import TestUser, admitted_token, create_concert, create_schedule, create_user
from ticketing.container import Services
from ticketing.schedules.schemas import ScheduleCreatedOut


@dataclass(frozen=True)
class Purchase:
    fan: TestUser
    token: str  # the fan's queue token (finished by the payment)
    concert_id: int
    schedule: ScheduleCreatedOut
    payments: list[dict[str, Any]]  # the payment objects, in seat order

    @property
    def payment_id(self) -> int:
        return int(self.payments[0]["id"])


async def buy(
    services: Services,
    *,
    seats: int = 1,
    price: int = 10_000,
    balance: int | None = None,
    concert_id: int | None = None,
    schedule: ScheduleCreatedOut | None = None,
    starts_in: timedelta | None = None,
    fan: TestUser | None = None,
    title: str = "Box office",
) -> Purchase:
    """A fan who holds and pays for the first ``seats`` free seats of a date (a new concert and
    date unless given) in one payment request."""
    if concert_id is None:
        concert_id = await create_concert(services, title)
    if schedule is None:
        schedule = await create_schedule(
            services,
            concert_id,
            seats=max(seats, 4),
            price=price,
            starts_at=datetime.now(UTC) + starts_in if starts_in else None,
        )
    if fan is None:
        fan = await create_user(services, balance=balance if balance is not None else price * seats)
    token = await admitted_token(services, fan, concert_id)
    free = await _free_seat_ids(services, schedule.id)
    held = await services.reservations.hold_seats(fan.principal, token, free[:seats])
    reply = await services.payments.pay(fan.principal, token, [r.id for r in held], None, several=True)
    assert reply.status_code == 201
    payments = msgspec.json.decode(reply.body)["items"]
    return Purchase(fan, token, concert_id, schedule, payments)


async def _free_seat_ids(services: Services, schedule_id: int) -> list[int]:
    async with services.uow(autocommit=True) as uow:
        rows = await uow.conn.fetch(
            "SELECT id FROM seats WHERE schedule_id = $1 AND status = 'AVAILABLE' ORDER BY id", schedule_id
        )
    return [row[0] for row in rows]


async def ticket_of(services: Services, payment_id: int) -> dict[str, Any]:
    """The ticket row of a payment, as stored."""
    async with services.uow(autocommit=True) as uow:
        row = await uow.conn.fetchrow("SELECT * FROM tickets WHERE payment_id = $1", payment_id)
    assert row is not None, f"payment {payment_id} has no ticket"
    return dict(row)


async def money_state(services: Services, purchase: Purchase) -> dict[str, Any]:
    """What a refund changes, for before/after comparisons."""
    async with services.uow(autocommit=True) as uow:
        conn = uow.conn
        return {
            "balance": await conn.fetchval("SELECT balance FROM wallets WHERE id = $1", purchase.fan.wallet_id),
            "refund_rows": await conn.fetchval(
                "SELECT count(*) FROM ledger_entries WHERE wallet_id = $1 AND kind = 'REFUND'", purchase.fan.wallet_id
            ),
            "payments": [
                tuple(row)
                for row in await conn.fetch(
                    "SELECT p.status, r.status, t.status FROM payments p "
                    "JOIN reservations r ON r.id = p.reservation_id JOIN tickets t ON t.payment_id = p.id "
                    "WHERE p.user_id = $1 ORDER BY p.id",
                    purchase.fan.id,
                )
            ],
            "seats": [
                tuple(row)
                for row in await conn.fetch(
                    "SELECT id, status FROM seats WHERE schedule_id = $1 ORDER BY id", purchase.schedule.id
                )
            ],
        }

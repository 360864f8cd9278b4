"""Paying several reservations in one request (docs/api.md): one statement, all or none."""

from __future__ import annotations

import msgspec
import pytest

from tests.factories import create_concert, create_schedule, fans_with_tokens
from ticketing.container import Services
from ticketing.kernel.errors import AppError


async def _state(
    services: Services, wallet_id: int, reservation_ids: list[int]
) -> tuple[int, list[str], list[tuple[int, int]]]:
    """(balance, the reservations' statuses, the wallet's ledger rows of kind PAYMENT as (amount, balance_after))."""
    async with services.uow(autocommit=True) as uow:
        balance = await uow.conn.fetchval("SELECT balance FROM wallets WHERE id = $1", wallet_id)
        statuses = await uow.conn.fetch(
            "SELECT status FROM reservations WHERE id = ANY($1::bigint[]) ORDER BY id", reservation_ids
        )
        entries = await uow.conn.fetch(
            "SELECT amount, balance_after FROM ledger_entries WHERE wallet_id = $1 AND kind = 'PAYMENT' ORDER BY id",
            wallet_id,
        )
    return int(balance), [row[0] for row in statuses], [(row[0], row[1]) for row in entries]


async def test_two_holds_paid_at_once_each_with_its_ledger_row(services: Services) -> None:
    concert = await create_concert(services)
    seats = (await create_schedule(services, concert, seats=3, price=40_000)).seats
    [(fan, token)] = await fans_with_tokens(services, concert, 1, balance=100_000)
    held = await services.reservations.hold_seats(fan.principal, token, [seats[0].id, seats[2].id])
    ids = [held[1].id, held[0].id]  # any order: the answer follows it
    reply = await services.payments.pay(fan.principal, token, ids, None, several=True)
    body = msgspec.json.decode(reply.body)
    assert reply.status_code == 201
    assert [p["reservation_id"] for p in body["items"]] == ids
    assert [p["amount"] for p in body["items"]] == [40_000, 40_000]
    balance, statuses, entries = await _state(services, fan.wallet_id, ids)
    assert balance == 20_000
    assert statuses == ["CONFIRMED", "CONFIRMED"]
    assert entries == [(40_000, 60_000), (40_000, 20_000)]  # each row with the balance it left


async def test_a_short_wallet_pays_none(services: Services) -> None:
    concert = await create_concert(services)
    seats = (await create_schedule(services, concert, seats=2, price=40_000)).seats
    [(fan, token)] = await fans_with_tokens(services, concert, 1, balance=50_000)  # one seat's worth
    held = await services.reservations.hold_seats(fan.principal, token, [seat.id for seat in seats])
    ids = [r.id for r in held]
    with pytest.raises(AppError) as refused:
        await services.payments.pay(fan.principal, token, ids, None, several=True)
    assert refused.value.code == "INSUFFICIENT_BALANCE"
    assert await _state(services, fan.wallet_id, ids) == (50_000, ["HELD", "HELD"], [])


async def test_one_unpayable_reservation_pays_none(services: Services) -> None:
    concert = await create_concert(services)
    seats = (await create_schedule(services, concert, seats=2, price=10_000)).seats
    (fan, token), (other, other_token) = await fans_with_tokens(services, concert, 2, balance=50_000)
    mine = await services.reservations.hold_seat(fan.principal, token, seats[0].id)
    theirs = await services.reservations.hold_seat(other.principal, other_token, seats[1].id)
    with pytest.raises(AppError) as refused:
        await services.payments.pay(fan.principal, token, [mine.id, theirs.id], None, several=True)
    assert refused.value.code == "RESERVATION_USER_MISMATCH"
    assert await _state(services, fan.wallet_id, [mine.id]) == (50_000, ["HELD"], [])

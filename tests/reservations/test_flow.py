"""Dates, seats, holds and payments over HTTP, with every error case."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import (
    TestUser,
    admitted_token,
    create_concert,
    create_schedule,
    create_user,
    join_queue,
    lapse_hold,
)
from tests.support import assert_problem, balance_of
from ticketing.container import Services
from ticketing.waiting_room.jobs import sold_out_job

Client = AsyncTestClient[Litestar]


def queue(user: TestUser, token: str) -> dict[str, str]:
    return {**user.headers, "X-Queue-Token": token}


async def hold(client: Client, user: TestUser, token: str, seat_id: int) -> Any:
    return await client.post("/api/v1/reservations", json={"seat_id": seat_id}, headers=queue(user, token))


async def test_a_fan_buys_a_seat_end_to_end(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    concert = await client.post("/api/v1/admin/concerts", json={"title": "Flash sale"}, headers=admin.headers)
    assert concert.status_code == 201, concert.text
    concert_id = concert.json()["id"]
    now = datetime.now(UTC)
    schedule = await client.post(
        f"/api/v1/admin/concerts/{concert_id}/schedules",
        json={
            "starts_at": (now + timedelta(days=7)).isoformat(),
            "reservation_opens_at": (now - timedelta(hours=1)).isoformat(),
            "reservation_closes_at": (now + timedelta(days=6)).isoformat(),
            "seat_count": 50,
            "price": 30_000,
        },
        headers=admin.headers,
    )
    assert schedule.status_code == 201, schedule.text
    created = schedule.json()
    assert [s["number"] for s in created["seats"]] == list(range(1, 51))
    assert {s["price"] for s in created["seats"]} == {30_000}

    fan = await create_user(services, balance=100_000)
    rival = await create_user(services, balance=100_000)
    token = await admitted_token(services, fan, concert_id)
    rival_token = await admitted_token(services, rival, concert_id)

    dates = await client.get(f"/api/v1/concerts/{concert_id}/schedules", headers=queue(fan, token))
    assert dates.status_code == 200, dates.text
    assert [(d["id"], d["available_seats"]) for d in dates.json()] == [(created["id"], 50)]

    seats = (await client.get(f"/api/v1/schedules/{created['id']}/seats", headers=queue(fan, token))).json()
    assert len(seats) == 50
    assert all(s["available"] for s in seats)
    seat_id = seats[6]["id"]

    held = await hold(client, fan, token, seat_id)
    assert held.status_code == 201, held.text
    reservation = held.json()
    assert reservation["status"] == "HELD"
    assert reservation["price"] == 30_000
    assert reservation["user_id"] == fan.id
    held_until = datetime.fromisoformat(reservation["held_until"])
    assert timedelta(seconds=290) < held_until - datetime.now(UTC) <= timedelta(seconds=300)

    assert_problem(await hold(client, rival, rival_token, seat_id), 409, "SEAT_UNAVAILABLE")

    paid = await client.post(
        "/api/v1/payments",
        json={"reservation_id": reservation["id"]},
        headers={**queue(fan, token), "Idempotency-Key": "pay-1"},
    )
    assert paid.status_code == 201, paid.text
    payment = paid.json()
    assert payment["amount"] == 30_000
    assert payment["reservation_id"] == reservation["id"]

    # A retry of the same payment replays the response even though the queue token is finished.
    replay = await client.post(
        "/api/v1/payments",
        json={"reservation_id": reservation["id"]},
        headers={**queue(fan, token), "Idempotency-Key": "pay-1"},
    )
    assert replay.status_code == 201
    assert replay.json() == payment

    assert (await balance_of(services, fan.wallet_id)) == (70_000, 2)
    after = (await client.get(f"/api/v1/reservations/{reservation['id']}", headers=fan.headers)).json()
    assert after["status"] == "CONFIRMED"
    info = (await client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": token})).json()
    assert info["status"] == "DONE"
    assert_problem(
        await client.get(f"/api/v1/schedules/{created['id']}/seats", headers=queue(fan, token)), 401, "TOKEN_INVALID"
    )
    services.schedules.invalidate(created["id"])
    rival_view = (
        await client.get(f"/api/v1/schedules/{created['id']}/seats", headers=queue(rival, rival_token))
    ).json()
    assert [s["available"] for s in rival_view if s["id"] == seat_id] == [False]
    ledger = (await client.get(f"/api/v1/wallets/{fan.wallet_id}/ledger", headers=fan.headers)).json()
    assert ledger["items"][0]["kind"] == "PAYMENT"
    assert ledger["items"][0]["amount"] == 30_000
    listed = (await client.get("/api/v1/reservations", headers=fan.headers)).json()
    assert [(r["id"], r["status"]) for r in listed["items"]] == [(reservation["id"], "CONFIRMED")]
    assert (await client.get("/api/v1/reservations", headers=rival.headers)).json()["items"] == []
    mine = (await client.get("/api/v1/payments", headers=fan.headers)).json()
    assert [p["id"] for p in mine["items"]] == [payment["id"]]
    assert mine["next_cursor"] is None


async def test_read_endpoint_errors(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    other_concert = await create_concert(services)
    schedule = await create_schedule(services, concert)
    closed = await create_schedule(services, concert, is_open=False)
    fan = await create_user(services)
    waiter = await create_user(services)
    token = await admitted_token(services, fan, concert)
    services.waiting_room.settings = services.waiting_room.settings.model_copy(update={"queue_max_active": 1})
    waiting, _ = await join_queue(services, waiter.principal, concert)
    other_token = await admitted_token(services, fan, other_concert)

    dates = f"/api/v1/concerts/{concert}/schedules"
    seats = f"/api/v1/schedules/{schedule.id}/seats"
    assert_problem(await client.get(dates), 401, "UNAUTHENTICATED")
    assert_problem(await client.get(dates, headers=fan.headers), 401, "TOKEN_INVALID")
    assert_problem(await client.get(dates, headers=queue(fan, "bogus")), 401, "TOKEN_INVALID")
    assert_problem(await client.get(dates, headers=queue(waiter, waiting.token)), 403, "TOKEN_NOT_ADMITTED")
    assert_problem(await client.get(dates, headers=queue(waiter, token)), 403, "TOKEN_INVALID")
    assert_problem(await client.get(dates, headers=queue(fan, other_token)), 403, "TOKEN_INVALID")
    assert_problem(
        await client.get("/api/v1/concerts/9999/schedules", headers=queue(fan, token)), 404, "CONCERT_NOT_FOUND"
    )
    assert [d["id"] for d in (await client.get(dates, headers=queue(fan, token))).json()] == [schedule.id]

    assert_problem(await client.get(seats, headers=fan.headers), 401, "TOKEN_INVALID")
    assert_problem(await client.get(seats, headers=queue(fan, other_token)), 403, "TOKEN_INVALID")
    assert_problem(
        await client.get("/api/v1/schedules/9999/seats", headers=queue(fan, token)), 404, "SCHEDULE_NOT_FOUND"
    )
    assert_problem(await client.get("/api/v1/schedules/x/seats", headers=queue(fan, token)), 422, "VALIDATION_ERROR")
    assert_problem(
        await client.get(f"/api/v1/schedules/{closed.id}/seats", headers=queue(fan, token)), 409, "SCHEDULE_NOT_OPEN"
    )


async def test_hold_errors_change_nothing(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3)
    closed = await create_schedule(services, concert, is_open=False)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)

    assert_problem(await client.post("/api/v1/reservations", json={"seat_id": 1}), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.post("/api/v1/reservations", json={"seat_id": 1}, headers=fan.headers), 401, "TOKEN_INVALID"
    )
    for body in ({}, {"seat_id": "1"}, {"seat_id": 0}, {"seat_id": 1, "extra": 1}):
        assert_problem(
            await client.post("/api/v1/reservations", json=body, headers=queue(fan, token)), 422, "VALIDATION_ERROR"
        )
    assert_problem(await hold(client, fan, token, 999_999), 404, "SEAT_NOT_FOUND")
    assert_problem(await hold(client, fan, token, closed.seats[0].id), 409, "SCHEDULE_NOT_OPEN")
    first = await hold(client, fan, token, schedule.seats[0].id)
    assert first.status_code == 201
    assert_problem(await hold(client, fan, token, schedule.seats[0].id), 409, "SEAT_UNAVAILABLE")
    async with services.uow() as uow:
        count = await uow.conn.fetchval("SELECT count(*) FROM reservations")
    assert count == 1


async def test_release_and_the_hold_cap(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=6)
    fan = await create_user(services)
    other = await create_user(services)
    token = await admitted_token(services, fan, concert)
    ids = []
    for seat in schedule.seats[:4]:
        response = await hold(client, fan, token, seat.id)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    assert_problem(await hold(client, fan, token, schedule.seats[4].id), 409, "HOLD_LIMIT_REACHED")

    assert_problem(
        await client.delete(f"/api/v1/reservations/{ids[0]}", headers=other.headers), 403, "RESERVATION_USER_MISMATCH"
    )
    assert_problem(
        await client.get(f"/api/v1/reservations/{ids[0]}", headers=other.headers), 403, "RESERVATION_USER_MISMATCH"
    )
    assert_problem(await client.delete("/api/v1/reservations/99999", headers=fan.headers), 404, "RESERVATION_NOT_FOUND")
    released = await client.delete(f"/api/v1/reservations/{ids[0]}", headers=fan.headers)
    assert released.status_code == 204
    assert (await client.get(f"/api/v1/reservations/{ids[0]}", headers=fan.headers)).json()["status"] == "CANCELLED"
    assert_problem(
        await client.delete(f"/api/v1/reservations/{ids[0]}", headers=fan.headers), 409, "RESERVATION_NOT_HELD"
    )
    # The released seat and the freed slot under the cap are both usable again.
    assert (await hold(client, fan, token, schedule.seats[0].id)).status_code == 201


async def test_payment_errors_change_nothing(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=5, price=50_000)
    fan = await create_user(services, balance=60_000)
    poor = await create_user(services, balance=10_000)
    token = await admitted_token(services, fan, concert)
    poor_token = await admitted_token(services, poor, concert)

    async def pay(user: TestUser, tok: str, reservation_id: Any) -> Any:
        return await client.post("/api/v1/payments", json={"reservation_id": reservation_id}, headers=queue(user, tok))

    mine = (await hold(client, fan, token, schedule.seats[0].id)).json()["id"]
    theirs = (await hold(client, poor, poor_token, schedule.seats[1].id)).json()["id"]
    assert_problem(await pay(fan, token, 99999), 404, "RESERVATION_NOT_FOUND")
    assert_problem(await pay(fan, token, "1"), 422, "VALIDATION_ERROR")
    assert_problem(await pay(fan, token, theirs), 403, "RESERVATION_USER_MISMATCH")
    assert_problem(await pay(poor, poor_token, theirs), 409, "INSUFFICIENT_BALANCE")
    assert_problem(await pay(poor, "bogus", theirs), 401, "TOKEN_INVALID")
    walletless = await create_user(services)
    walletless_token = await admitted_token(services, walletless, concert)
    async with services.uow() as uow:
        await uow.conn.execute("DELETE FROM wallets WHERE id = $1", walletless.wallet_id)
        await uow.commit()
    unpaid = (await hold(client, walletless, walletless_token, schedule.seats[3].id)).json()["id"]
    assert_problem(await pay(walletless, walletless_token, unpaid), 404, "WALLET_NOT_FOUND")
    async with services.uow() as uow:  # a refused debit leaves the holds as they were
        states = await uow.conn.fetch(
            "SELECT r.status, s.status FROM reservations r JOIN seats s ON s.id = r.seat_id "
            "WHERE r.id = ANY($1::bigint[]) ORDER BY r.id",
            [theirs, unpaid],
        )
    assert [tuple(row) for row in states] == [("HELD", "HELD"), ("HELD", "HELD")]

    await lapse_hold(services, mine)
    assert_problem(await pay(fan, token, mine), 409, "RESERVATION_EXPIRED")
    await services.reservations.expire_lapsed()
    assert_problem(await pay(fan, token, mine), 409, "RESERVATION_NOT_HELD")

    cancelled = (await hold(client, fan, token, schedule.seats[2].id)).json()["id"]
    await client.delete(f"/api/v1/reservations/{cancelled}", headers=fan.headers)
    assert_problem(await pay(fan, token, cancelled), 409, "RESERVATION_NOT_HELD")

    assert await balance_of(services, fan.wallet_id) == (60_000, 1)
    assert await balance_of(services, poor.wallet_id) == (10_000, 1)
    assert (await client.get("/api/v1/payments", headers=fan.headers)).json()["items"] == []


async def test_an_expired_hold_frees_the_seat_at_once(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=1)
    first, second = await create_user(services), await create_user(services)
    t1 = await admitted_token(services, first, concert)
    t2 = await admitted_token(services, second, concert)
    reservation = (await hold(client, first, t1, schedule.seats[0].id)).json()["id"]
    assert_problem(await hold(client, second, t2, schedule.seats[0].id), 409, "SEAT_UNAVAILABLE")
    await lapse_hold(services, reservation)
    # The served app's process remembers the seat taken until the hold's end, which lapse_hold
    # moved into the past behind its back: tell it, as the clock would have.
    served = client.app.state.services
    served.schedules.forget_taken([schedule.seats[0].id])
    served.schedules.invalidate(schedule.id)
    seats = (await client.get(f"/api/v1/schedules/{schedule.id}/seats", headers=queue(second, t2))).json()
    assert seats[0]["available"] is True  # before any sweeper ran
    again = await hold(client, second, t2, schedule.seats[0].id)
    assert again.status_code == 201, again.text
    old = (await client.get(f"/api/v1/reservations/{reservation}", headers=first.headers)).json()
    assert old["status"] == "EXPIRED"


async def test_a_lapsed_hold_reads_expired_before_any_sweeper(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=2)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    lapsed = (await hold(client, fan, token, schedule.seats[0].id)).json()["id"]
    live = (await hold(client, fan, token, schedule.seats[1].id)).json()["id"]
    await lapse_hold(services, lapsed)

    one = await client.get(f"/api/v1/reservations/{lapsed}", headers=fan.headers)
    assert one.status_code == 200 and one.json()["status"] == "EXPIRED"
    listed = (await client.get("/api/v1/reservations", headers=fan.headers)).json()["items"]
    assert [(r["id"], r["status"]) for r in listed] == [(live, "HELD"), (lapsed, "EXPIRED")]
    # Releasing it is refused like releasing any hold that is over, and writes nothing.
    assert_problem(
        await client.delete(f"/api/v1/reservations/{lapsed}", headers=fan.headers), 409, "RESERVATION_NOT_HELD"
    )
    async with services.uow() as uow:
        stored = await uow.conn.fetchval("SELECT status FROM reservations WHERE id = $1", lapsed)
    assert stored == "HELD"  # nothing swept it: the reading alone says EXPIRED


async def test_sweeper_expires_lapsed_holds(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=3)
    fan = await create_user(services)
    token = await admitted_token(services, fan, concert)
    held = [await services.reservations.hold_seat(fan.principal, token, s.id) for s in schedule.seats]
    await lapse_hold(services, held[0].id)
    await lapse_hold(services, held[1].id)
    assert await services.reservations.expire_lapsed() == 2
    assert await services.reservations.expire_lapsed() == 0
    statuses = [(await services.reservations.get_reservation(fan.principal, r.id)).status for r in held]
    assert statuses == ["EXPIRED", "EXPIRED", "HELD"]


async def test_selling_the_last_seat_closes_the_queue(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=1)
    fan = await create_user(services, balance=50_000)
    waiter = await create_user(services)
    token = await admitted_token(services, fan, concert)
    reservation = (await hold(client, fan, token, schedule.seats[0].id)).json()["id"]
    waiting, _ = await join_queue(services, waiter.principal, concert)
    paid = await client.post("/api/v1/payments", json={"reservation_id": reservation}, headers=queue(fan, token))
    assert paid.status_code == 201
    assert (await services.waiting_room.token_info(waiting.token)).status == "SOLD_OUT"
    assert await services.waiting_room.admit(concert) == 0
    await create_schedule(services, concert, seats=1)  # the operator adds a date: the queue reopens
    assert (await services.waiting_room.token_info(waiting.token)).status == "WAITING"
    assert await services.waiting_room.admit(concert) == 1


async def test_the_last_two_payments_at_once_close_the_queue_within_a_job_tick(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=2)
    fans = [await create_user(services, balance=50_000) for _ in range(2)]
    tokens = [await admitted_token(services, fan, concert) for fan in fans]
    holds = [
        await services.reservations.hold_seat(fan.principal, token, seat.id)
        for fan, token, seat in zip(fans, tokens, schedule.seats, strict=True)
    ]
    waiter = await create_user(services)
    waiting, _ = await join_queue(services, waiter.principal, concert)
    await asyncio.gather(
        *(
            services.payments.pay(fan.principal, token, [held.id], None)
            for fan, token, held in zip(fans, tokens, holds, strict=True)
        )
    )
    # Each may have seen the other's seat unsold; then the sold-out job's next tick closes it.
    await sold_out_job(services.waiting_room, services.schedules.concert_sold_out).run()
    assert (await services.waiting_room.token_info(waiting.token)).status == "SOLD_OUT"


async def test_the_sold_out_job_catches_a_sale_the_payments_missed(services: Services) -> None:
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=2)
    waiter = await create_user(services)
    waiting, _ = await join_queue(services, waiter.principal, concert)
    job = sold_out_job(services.waiting_room, services.schedules.concert_sold_out)

    async def sell_behind_the_payments_back(seat_id: int) -> None:
        async with services.uow() as uow:
            await uow.conn.execute("UPDATE seats SET status = 'SOLD' WHERE id = $1", seat_id)
            await uow.commit()

    await sell_behind_the_payments_back(schedule.seats[0].id)
    await job.run()
    assert (await services.waiting_room.token_info(waiting.token)).status == "WAITING"
    await sell_behind_the_payments_back(schedule.seats[1].id)
    await job.run()
    assert (await services.waiting_room.token_info(waiting.token)).status == "SOLD_OUT"

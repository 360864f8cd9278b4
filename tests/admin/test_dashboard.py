from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import admitted_token, create_concert, create_schedule, create_user, join_queue
from tests.support import assert_problem
from ticketing.container import Services


async def test_dashboard_counts_seats_queue_and_revenue(client: AsyncTestClient[Litestar], services: Services) -> None:
    admin = await create_user(services, role="admin")
    fan = await create_user(services, balance=100_000)
    waiter = await create_user(services)
    concert = await create_concert(services)
    first = await create_schedule(services, concert, seats=5, price=20_000)
    await create_schedule(services, concert, seats=3, price=20_000)
    token = await admitted_token(services, fan, concert)
    sold = await services.reservations.hold_seat(fan.principal, token, first.seats[0].id)
    await services.reservations.hold_seat(fan.principal, token, first.seats[1].id)
    await services.payments.pay(fan.principal, token, [sold.id], None)
    await join_queue(services, waiter.principal, concert)

    url = f"/api/v1/admin/concerts/{concert}/dashboard"
    assert_problem(await client.get(url, headers=fan.headers), 403, "FORBIDDEN")
    assert_problem(
        await client.get("/api/v1/admin/concerts/999/dashboard", headers=admin.headers), 404, "CONCERT_NOT_FOUND"
    )
    body = (await client.get(url, headers=admin.headers)).json()
    assert (body["seats_available"], body["seats_held"], body["seats_sold"], body["revenue"]) == (6, 1, 1, 20_000)
    assert [(s["available"], s["held"], s["sold"]) for s in body["schedules"]] == [(3, 1, 1), (3, 0, 0)]
    assert body["queue"]["waiting"] == 1
    assert body["queue"]["admitted_last_minute"] == 1
    assert body["concert"]["id"] == concert

"""Pausing, resuming and closing a sale (issue 25; docs/operating.md), on real Redis and
PostgreSQL: a pause stops admission and nothing else; a close ends the open dates' windows."""

from __future__ import annotations

import asyncio

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import admitted_token, create_concert, create_schedule, create_user, join_queue
from tests.support import assert_problem
from ticketing.container import Services
from ticketing.schedules.errors import ScheduleNotOpen
from ticketing.schedules.schemas import PLAIN_CLASS
from ticketing.waiting_room.snapshot import QueueViews


async def test_a_paused_sale_admits_nobody_and_lets_the_admitted_finish(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    admin = await create_user(services, role="admin")
    concert = await create_concert(services)
    schedule = await create_schedule(services, concert, seats=10)
    inside = await create_user(services, balance=100_000)
    token = await admitted_token(services, inside, concert)
    room = services.waiting_room
    waiters = [await create_user(services) for _ in range(3)]
    queued = [(await join_queue(services, w.principal, concert))[0].token for w in waiters]

    paused = await client.post(f"/api/v1/admin/concerts/{concert}/sale/pause", headers=admin.headers)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert await room.admit(concert) == 0
    assert [(await room.token_info(t)).status for t in queued] == ["WAITING"] * 3
    late = await create_user(services)  # joining goes on while paused: in line, behind the others
    late_token, _ = await join_queue(services, late.principal, concert)
    assert (late_token.status, late_token.position) == ("WAITING", 4)
    # The fan admitted before the pause holds and pays as usual.
    held = await services.reservations.hold_seat(inside.principal, token, schedule.seats[0].id)
    await services.payments.pay(inside.principal, token, [held.id], None)
    dashboard = (await client.get(f"/api/v1/admin/concerts/{concert}/dashboard", headers=admin.headers)).json()
    assert (dashboard["queue"]["paused"], dashboard["queue"]["waiting"], dashboard["seats_sold"]) == (True, 4, 1)

    resumed = await client.post(f"/api/v1/admin/concerts/{concert}/sale/resume", headers=admin.headers)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert await room.admit(concert) == 4
    assert [(await room.token_info(t)).status for t in [*queued, late_token.token]] == ["ACTIVE"] * 4


async def test_a_pause_racing_admission_ticks_splits_them_exactly(services: Services) -> None:
    """Each admission tick runs wholly before the pause (and admits) or wholly after it (and
    admits none): the fans admitted are exactly the ticks' sum, the first by arrival, and no tick
    after the pause admits anyone."""
    room = services.waiting_room
    room.settings = room.settings.model_copy(update={"queue_max_active": 1000, "queue_admit_per_second": 1000})
    concert = await create_concert(services)
    await create_schedule(services, concert, seats=10)
    fans = [await create_user(services) for _ in range(60)]
    for fan in fans:
        await join_queue(services, fan.principal, concert)

    async def tick() -> int:
        return await room.admit(concert, batch=3)

    results = await asyncio.gather(
        *(tick() for _ in range(10)), room.set_paused(concert, True), *(tick() for _ in range(10))
    )
    admitted = sum(r for r in results if isinstance(r, int))
    # Read from Redis itself (token_info answers from this process's snapshot, a moment behind).
    records = await services.redis.hgetall(f"wr:{{{concert}}}:tok")  # seq -> "<status> <user>..."
    statuses = [records[str(seq).encode()][:1] for seq in range(1, 61)]
    assert statuses == [b"A"] * admitted + [b"W"] * (60 - admitted)
    assert (await room.stats(concert)).active == admitted
    assert admitted % 3 == 0 and admitted <= 60
    assert await asyncio.gather(*(tick() for _ in range(5))) == [0] * 5
    await room.set_paused(concert, False)
    assert await room.admit(concert) == 60 - admitted


async def test_joins_racing_a_pause_all_wait_in_arrival_order(services: Services) -> None:
    room = services.waiting_room
    concert = await create_concert(services)
    await create_schedule(services, concert, seats=10)
    fans = [await create_user(services) for _ in range(40)]
    joined = await asyncio.gather(
        *(join_queue(services, f.principal, concert) for f in fans[:20]),
        room.set_paused(concert, True),
        *(join_queue(services, f.principal, concert) for f in fans[20:]),
    )
    tokens = [j[0] for j in joined if isinstance(j, tuple)]
    assert sorted(t.position or 0 for t in tokens) == list(range(1, 41))
    assert {t.status for t in tokens} == {"WAITING"}
    assert await room.admit(concert) == 0


async def test_closing_a_sale_ends_the_open_windows_and_pauses_the_queue(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    admin = await create_user(services, role="admin")
    concert = await create_concert(services)
    open_date = await create_schedule(services, concert, seats=5)
    upcoming = await create_schedule(services, concert, seats=5, is_open=False)
    fan = await create_user(services, balance=100_000)
    token = await admitted_token(services, fan, concert)
    held = await services.reservations.hold_seat(fan.principal, token, open_date.seats[0].id)

    closed = await client.post(f"/api/v1/admin/concerts/{concert}/sale/close", headers=admin.headers)
    assert closed.status_code == 200
    assert closed.json()["closed_schedule_ids"] == [open_date.id]
    assert closed.json()["queue"]["paused"] is True
    # A hold in the process that closed the sale is refused at once (another process may take one
    # on its cached copy of the date for up to SCHEDULE_META_SECONDS: docs/operating.md).
    refused = await client.post(
        "/api/v1/reservations",
        json={"seat_id": open_date.seats[1].id},
        headers={**fan.headers, "X-Queue-Token": token},
    )
    assert_problem(refused, 409, ScheduleNotOpen.code)
    await services.payments.pay(fan.principal, token, [held.id], None)  # a hold made before may be paid
    row = await services.schedules.schedule(upcoming.id)
    assert row.reservation_opens_at == upcoming.reservation_opens_at  # a date not yet open is left alone
    again = await client.post(f"/api/v1/admin/concerts/{concert}/sale/close", headers=admin.headers)
    assert again.json()["closed_schedule_ids"] == []


async def test_a_hold_after_a_close_elsewhere_is_refused_on_a_warm_date_cache(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    """Another process closed the sale: this one still has the date cached as open, and the
    hold's own transaction refuses it (the database decides), holding nothing."""
    concert = await create_concert(services)
    date = await create_schedule(services, concert, seats=5)
    first, second = await create_user(services), await create_user(services)
    first_token = await admitted_token(services, first, concert)
    second_token = await admitted_token(services, second, concert)
    served = client.app.state.services  # the serving process's services: its date cache
    first_hold = await client.post(
        "/api/v1/reservations",
        json={"seat_id": date.seats[0].id},
        headers={**first.headers, "X-Queue-Token": first_token},
    )
    assert first_hold.status_code == 201  # and the date is now cached as open
    async with services.uow(autocommit=True) as uow:  # the close of another process
        await uow.conn.execute("UPDATE schedules SET reservation_closes_at = now() WHERE id = $1", date.id)
    assert (await served.schedules.schedule(date.id)).reservation_closes_at == date.reservation_closes_at

    for body in ({"seat_id": date.seats[1].id}, {"schedule_id": date.id, "class": PLAIN_CLASS, "quantity": 1}):
        refused = await client.post(
            "/api/v1/reservations", json=body, headers={**second.headers, "X-Queue-Token": second_token}
        )
        assert_problem(refused, 409, ScheduleNotOpen.code)
    async with services.uow(autocommit=True) as uow:
        held = await uow.conn.fetchval("SELECT count(*) FROM reservations WHERE user_id = $1", second.id)
        free = await uow.conn.fetchval(
            "SELECT count(*) FROM seats WHERE schedule_id = $1 AND status = 'AVAILABLE'", date.id
        )
    assert (held, free) == (0, 4)


async def test_sale_controls_are_for_operators_and_known_concerts(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    admin = await create_user(services, role="admin")
    fan = await create_user(services)
    concert = await create_concert(services)
    for action in ("pause", "resume", "close"):
        url = f"/api/v1/admin/concerts/{concert}/sale/{action}"
        assert_problem(await client.post(url), 401, "UNAUTHENTICATED")
        assert_problem(await client.post(url, headers=fan.headers), 403, "FORBIDDEN")
        assert_problem(
            await client.post(f"/api/v1/admin/concerts/999999/sale/{action}", headers=admin.headers),
            404,
            "CONCERT_NOT_FOUND",
        )
        assert_problem(
            await client.post(f"/api/v1/admin/concerts/01/sale/{action}", headers=admin.headers),
            422,
            "VALIDATION_ERROR",
        )
    assert (await services.waiting_room.stats(concert)).paused is False


async def test_waiting_fans_are_told_of_a_pause_and_the_resume(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    """The pause reaches the waiters' token info (GET /queue/tokens/me, the push channel's queue
    event) through the stream every process syncs from, and through a fresh process's first read."""
    admin = await create_user(services, role="admin")
    concert = await create_concert(services)
    await create_schedule(services, concert, seats=10)
    room = services.waiting_room
    fan = await create_user(services)
    token = (await join_queue(services, fan.principal, concert))[0].token
    me = {**fan.headers, "X-Queue-Token": token}
    assert (await client.get("/api/v1/queue/tokens/me", headers=me)).json()["paused"] is False

    await client.post(f"/api/v1/admin/concerts/{concert}/sale/pause", headers=admin.headers)
    await room.views.sync(concert)
    info = (await client.get("/api/v1/queue/tokens/me", headers=me)).json()
    assert (info["paused"], info["status"], info["position"]) == (True, "WAITING", 1)
    fresh = QueueViews(room.store)  # another process's first look reads the flag with the state
    assert (await fresh.sync(concert)).paused is True

    await client.post(f"/api/v1/admin/concerts/{concert}/sale/resume", headers=admin.headers)
    await room.views.sync(concert)
    assert (await client.get("/api/v1/queue/tokens/me", headers=me)).json()["paused"] is False
    assert (await fresh.sync(concert)).paused is False

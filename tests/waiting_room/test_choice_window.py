"""Admission bounded by the seats left, the choice window, and the draw anyone can check.

Fans are admitted only while the admitted fans who have not chosen yet are fewer than the seats
left for sale; one who holds nothing within the choice window loses the place to the next rank;
one who held keeps it for the admission's life. The draw's key is committed to (SHA-256) before
the opening and revealed by the draw; a fan's rank is recomputed here from the revealed key by an
implementation of docs/fair-draw.md's recipe written apart from the service's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from math import isqrt
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_schedule, create_user, join_queue
from tests.waiting_room.support import code_of, configure, open_sale_at
from ticketing.container import Services
from ticketing.waiting_room.service import WaitingRoomService


async def statuses(room: WaitingRoomService, concert: int, tokens: list[str]) -> list[str]:
    await room.views.sync(concert)
    return [(await room.token_info(t)).status for t in tokens]


async def test_admission_never_outnumbers_the_seats_left_and_a_lapsed_place_goes_to_the_next(
    services: Services,
) -> None:
    room, clock = configure(services, queue_admit_per_second=100, queue_max_active=1000, queue_choice_seconds=60)
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=3, price=1_000)).seats]
    fans = [await create_user(services, balance=10_000) for _ in range(6)]
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in fans]
    inventory = services.schedules.seats_for_sale

    assert await room.admit(concert, inventory=inventory) == 3  # three seats: three may choose
    assert await statuses(room, concert, tokens) == ["ACTIVE"] * 3 + ["WAITING"] * 3
    assert await room.admit(concert, inventory=inventory) == 0

    held = await services.reservations.hold_seat(fans[0].principal, tokens[0], seats[0])
    assert await room.admit(concert, inventory=inventory) == 0  # two seats left, two still choosing

    clock.advance(61)  # fans 1 and 2 held nothing within their window: their places go on
    await statuses(room, concert, tokens[3:])  # the waiters keep polling (written with the next sync)
    await room.views.sync(concert)
    assert await room.admit(concert, inventory=inventory) == 2
    assert await statuses(room, concert, tokens) == ["ACTIVE", "EXPIRED", "EXPIRED", "ACTIVE", "ACTIVE", "WAITING"]
    assert await code_of(services.reservations.hold_seat(fans[1].principal, tokens[1], seats[1])) == (
        401,
        "TOKEN_INVALID",
    )
    # The fan who chose in time keeps the place past the window, and pays.
    reply = await services.payments.pay(fans[0].principal, tokens[0], [held.id], None)
    assert reply.status_code == 201
    assert await statuses(room, concert, tokens[:1]) == ["DONE"]
    # Without the inventory (or with it turned off) only the configured cap bounds admission.
    assert await room.admit(concert) == 1


async def test_a_fan_who_chose_while_the_seats_were_counted_is_not_counted_twice(services: Services) -> None:
    """The admitter counts the seats left in PostgreSQL, then runs its script in Redis: a fan who
    holds (and is marked chosen) in between is gone from the choosers but not from the count."""
    room, _ = configure(services, queue_admit_per_second=100, queue_max_active=1000, queue_choice_seconds=60)
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=2, price=1_000)).seats]
    fans = [await create_user(services) for _ in range(3)]
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in fans]
    assert await room.admit(concert, inventory=services.schedules.seats_for_sale) == 2

    async def counted_before_a_hold(concert_id: int, most: int) -> int:
        seats_left = await services.schedules.seats_for_sale(concert_id, most)
        await services.reservations.hold_seat(fans[0].principal, tokens[0], seats[0])
        return seats_left

    assert await room.admit(concert, inventory=counted_before_a_hold) == 0  # one seat left, one choosing
    assert await statuses(room, concert, tokens) == ["ACTIVE", "ACTIVE", "WAITING"]
    assert await room.admit(concert, inventory=services.schedules.seats_for_sale) == 0


async def test_a_fan_who_held_is_honoured_after_the_place_ended(services: Services) -> None:
    """The write guard lets a fan whose place ended go on to pay while they hold a seat of the
    concert (a hold proves the admission), and refuses anyone else with an ended token."""
    room, clock = configure(services, queue_admit_per_second=100, queue_max_active=1000, queue_choice_seconds=30)
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=2, price=1_000)).seats]
    holder, idle = await create_user(services, balance=10_000), await create_user(services)
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in (holder, idle)]
    assert await room.admit(concert) == 2
    held = await services.reservations.hold_seat(holder.principal, tokens[0], seats[0])
    await services.redis.zrem(f"wr:{{{concert}}}:chosen", "1")  # as if marking it chosen had failed
    await services.redis.zadd(f"wr:{{{concert}}}:active", {"1": 0})
    clock.advance(31)
    await room.admit(concert)
    assert await services.redis.hget(f"wr:{{{concert}}}:tok", "1") == b"E " + str(holder.id).encode()
    reply = await services.payments.pay(holder.principal, tokens[0], [held.id], None)
    assert reply.status_code == 201
    assert await code_of(services.reservations.hold_seat(idle.principal, tokens[1], seats[1])) == (
        401,
        "TOKEN_INVALID",
    )


def recipe_rank(seq: int, size: int, key: str) -> int:
    """docs/fair-draw.md, step by step."""
    if seq > size:
        return seq
    a = isqrt(size)
    if a * a < size:
        a += 1
    b = -(-size // a)

    def round_value(index: int, half: int, modulus: int) -> int:
        return int(hashlib.sha1(f"{key}:{index}:{half}".encode()).hexdigest()[:8], 16) % modulus

    def encrypt(x: int) -> int:
        left, right = divmod(x, b)
        m1, m2 = a, b
        for index in range(1, 5):
            left, right = right, (left + round_value(index, right, m1)) % m1
            m1, m2 = m2, m1
        return left * b + right

    x = encrypt(seq - 1)
    while x >= size:
        x = encrypt(x)
    return x + 1


async def test_every_rank_is_recomputed_from_the_revealed_key(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    room, clock = configure(services, queue_admit_per_second=1, queue_max_active=1000)
    concert = await create_concert(services)
    await open_sale_at(services, concert, datetime.fromtimestamp(clock.now + 30, tz=UTC), seats=20)
    none = (await client.get(f"/api/v1/concerts/{concert}/queue/draw")).json()
    assert (none["status"], none["commitment"], none["key"]) == ("NONE", None, None)
    fans = [await create_user(services) for _ in range(17)]
    joined = [(await join_queue(services, f.principal, concert))[0] for f in fans]
    assert [t.arrival_number for t in joined] == list(range(1, 18))

    before = (await client.get(f"/api/v1/concerts/{concert}/queue/draw")).json()
    assert before["status"] == "COMMITTED" and before["key"] is None and before["pre_queue_size"] is None
    assert len(before["commitment"]) == 64

    clock.advance(30)
    order: list[int] = []
    for _ in range(17):  # one admission a tick: the order of admission, by arrival number
        clock.advance(1)
        assert await room.admit(concert) == 1
        infos = [await room.token_info(t.token) for t in joined]
        order += [i.arrival_number or 0 for i in infos if i.status == "ACTIVE" and i.arrival_number not in order]

    after = (await client.get(f"/api/v1/concerts/{concert}/queue/draw")).json()
    assert after["status"] == "DRAWN" and after["pre_queue_size"] == 17
    assert hashlib.sha256(after["key"].encode()).hexdigest() == before["commitment"] == after["commitment"]
    ranks = {seq: recipe_rank(seq, 17, after["key"]) for seq in range(1, 18)}
    assert sorted(ranks.values()) == list(range(1, 18))
    assert order == sorted(ranks, key=ranks.__getitem__)
    assert (await client.get("/api/v1/concerts/999999/queue/draw")).status_code == 404


async def test_the_committed_key_survives_an_opening_moved_earlier(services: Services, monkeypatch: Any) -> None:
    monkeypatch.setattr("ticketing.schedules.service.OPENING_CACHE_SECONDS", 0)  # see the new date at once
    room, clock = configure(services, queue_admit_per_second=10, queue_max_active=1000)
    concert = await create_concert(services)
    commitments = []
    for seconds in (600, 30):
        opens = datetime.fromtimestamp(clock.now + seconds, tz=UTC)
        await open_sale_at(services, concert, opens)
        await join_queue(services, (await create_user(services)).principal, concert)
        record = await room.draw(concert)
        assert record.status == "COMMITTED" and record.sale_opens_at == opens.replace(microsecond=opens.microsecond)
        commitments.append(record.commitment)
    assert commitments[0] is not None and commitments[0] == commitments[1]
    clock.advance(31)
    await room.admit(concert)
    drawn = await room.draw(concert)
    assert drawn.status == "DRAWN" and drawn.key is not None and drawn.pre_queue_size == 2
    assert hashlib.sha256(drawn.key.encode()).hexdigest() == commitments[0]

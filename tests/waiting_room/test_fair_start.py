"""Fair start: fans who join before the sale opens are ranked by a draw at the opening; those who
join after it come after all of them, first come, first served. On real Redis (both backends, see
conftest.py), with a controllable clock and a fixed draw key so that the order is exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_schedule, create_user, join_queue
from tests.waiting_room.support import FakeClock, code_of, configure, open_sale_at
from ticketing.container import Services, build_services
from ticketing.kernel.db import create_pool
from ticketing.kernel.redis import create_redis
from ticketing.waiting_room import fair_start
from ticketing.waiting_room.fair_start import Draw, FairStart
from ticketing.waiting_room.service import WaitingRoomService

FIXED_KEY = "00112233445566778899aabbccddeeff"
# The order in which the draw under FIXED_KEY admits 12 pre-queued fans (0-based arrival index):
# computed once, kept here so that a change of the permutation (in Lua or Python) shows.
DRAWN_12 = [4, 9, 7, 11, 8, 5, 3, 1, 6, 0, 2, 10]


def moment(clock: FakeClock, seconds: float) -> datetime:
    return datetime.fromtimestamp(clock.now + seconds, tz=UTC)


async def admission_order(room: WaitingRoomService, clock: FakeClock, concert: int, tokens: list[str]) -> list[int]:
    """Admit one fan per tick (the room admits 1/s) until all are in: their indexes, in order.
    Each tick also polls every token, so that nobody is dropped as silent meanwhile."""
    order: list[int] = []
    while len(order) < len(tokens):
        clock.advance(1)
        assert await room.admit(concert) == 1
        active = [i for i, t in enumerate(tokens) if (await room.token_info(t)).status == "ACTIVE"]
        new = [i for i in active if i not in order]
        assert len(new) == 1
        order += new
    return order


def test_the_draw_is_a_permutation_and_its_inverse_is_exact() -> None:
    for size in (1, 2, 3, 4, 5, 9, 10, 17, 99, 100, 101, 1_000, 4_097):
        draw = Draw(size, f"key-{size}")
        ranks = [draw.rank(seq) for seq in range(1, size + 1)]
        assert sorted(ranks) == list(range(1, size + 1)), size
        assert [draw.seq_at(rank) for rank in ranks] == list(range(1, size + 1)), size
        assert draw.rank(size + 7) == draw.seq_at(size + 7) == size + 7  # after the pre-queue: arrival order
    assert [Draw(12, FIXED_KEY).seq_at(rank) - 1 for rank in range(1, 13)] == DRAWN_12
    assert [Draw(12, "another key").seq_at(rank) - 1 for rank in range(1, 13)] != DRAWN_12
    assert FairStart.parse("") is None
    assert FairStart.parse("1800000060000") == FairStart(1_800_000_060_000)
    drawn = FairStart.parse(f"1800000060000 12 {FIXED_KEY}")
    assert drawn is not None and drawn.draw == Draw(12, FIXED_KEY)


async def test_redis_ranks_exactly_as_python_does(services: Services) -> None:
    script = (
        "#!lua\n"
        + fair_start.LUA
        + """
local fs = {size = tonumber(ARGV[1]), key = ARGV[2]}
local ranks, seqs = {}, {}
for i = 1, fs.size + 2 do
  table.insert(ranks, rank_of(fs, i))
  table.insert(seqs, seq_at(fs, i))
end
return {ranks, seqs}
"""
    )
    for size, key in ((1, "a"), (7, "b"), (1_000, FIXED_KEY), (1_001, "c")):
        ranks, seqs = await services.redis.eval(script, 0, size, key)
        draw = Draw(size, key)
        assert ranks == [draw.rank(i) for i in range(1, size + 3)]
        assert seqs == [draw.seq_at(i) for i in range(1, size + 3)]


async def test_the_pre_queue_is_drawn_at_the_opening_then_first_come_first_served(services: Services) -> None:
    room, clock = configure(services, queue_admit_per_second=1, queue_max_active=1000)
    room.new_draw_key = lambda: FIXED_KEY
    concert = await create_concert(services)
    opens = moment(clock, 60)
    await open_sale_at(services, concert, opens)
    fans = [await create_user(services) for _ in range(15)]

    early = []
    for i, fan in enumerate(fans[:12]):
        issued, created = await join_queue(services, fan.principal, concert)
        assert (created, issued.status, issued.pre_queue, issued.sale_opens_at) == (True, "WAITING", True, opens)
        assert issued.position == i + 1  # the pre-queue's size so far: the worst place the draw can give
        early.append(issued.token)
    # Before the opening nobody is admitted; everyone is told the pre-queue's size and the opening.
    assert await room.admit(concert) == 0
    for token in early:
        info = await room.token_info(token)
        assert (info.status, info.position, info.pre_queue, info.sale_opens_at) == ("WAITING", 12, True, opens)
        assert info.eta_seconds == 60 + 12  # the opening, then 12th at the configured 1/s
        assert info.expires_at == opens + timedelta(seconds=services.settings.queue_waiting_grace_seconds)
    clock.advance(59.999)
    assert await room.admit(concert) == 0

    clock.advance(0.001)  # the opening: the first join (or admission tick) from now on draws
    late = []
    for i, fan in enumerate(fans[12:]):
        issued, _ = await join_queue(services, fan.principal, concert)
        assert (issued.pre_queue, issued.position, issued.sale_opens_at) == (False, 13 + i, opens)
        late.append(issued.token)

    # The place each is told is their rank in the draw, then the late ones in arrival order.
    draw = Draw(12, FIXED_KEY)
    positions = [(await room.token_info(t)).position for t in early + late]
    assert positions == [draw.rank(seq) for seq in range(1, 13)] + [13, 14, 15]
    assert {(await room.token_info(t)).pre_queue for t in early + late} == {False}
    # Redis answers a pre-queued fan who asks again with the same place (the join script ranks too).
    again, created = await join_queue(services, fans[DRAWN_12[4]].principal, concert)
    assert (created, again.token, again.position) == (False, early[DRAWN_12[4]], 5)

    order = await admission_order(room, clock, concert, early + late)
    assert order[:12] == DRAWN_12  # the admitter (Lua, in Redis) drew what the views (Python) rank
    assert sorted(order[:12]) == list(range(12))  # each pre-queued fan admitted once, none lost
    assert order[:12] != list(range(12))  # not the arrival order
    assert order[12:] == [12, 13, 14]  # after all of them, first come, first served


async def test_pre_queued_fans_are_not_dropped_until_a_grace_period_after_the_opening(services: Services) -> None:
    room, clock = configure(services, queue_admit_per_second=1, queue_max_active=1000, queue_waiting_grace_seconds=60)
    room.new_draw_key = lambda: FIXED_KEY
    concert = await create_concert(services)
    await open_sale_at(services, concert, moment(clock, 600))
    fans = [await create_user(services) for _ in range(12)]
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in fans]
    await room.mark_sold_out(concert)  # holds admission back: this test is about who stays in line

    clock.advance(630)  # 10 minutes without a poll, then half the grace after the opening
    await room.admit(concert)  # the draw
    keep = [0, 3, 4, 7, 8, 11]
    for i in keep:
        assert (await room.token_info(tokens[i])).status == "SOLD_OUT"  # polled (a heartbeat)
    await room.views.sync(concert)
    clock.advance(29)  # opening + 59 s: nobody is dropped yet
    await room.admit(concert)
    assert (await room.stats(concert)).waiting == 12
    clock.advance(2)  # opening + 61 s: those who never came back are
    await room.admit(concert)
    assert (await room.stats(concert)).waiting == len(keep)
    assert [(await room.token_info(t)).status for t in tokens] == [
        "SOLD_OUT" if i in keep else "EXPIRED" for i in range(12)
    ]

    await room.clear_sold_out(concert)
    # Positions count only those still in line, in drawn order; the admitter skips the ones who left.
    kept_in_drawn_order = [i for i in DRAWN_12 if i in keep]
    positions = {i: (await room.token_info(tokens[i])).position for i in keep}
    assert [positions[i] for i in kept_in_drawn_order] == [1, 2, 3, 4, 5, 6]
    again, _ = await join_queue(services, fans[kept_in_drawn_order[2]].principal, concert)
    assert again.position == 3  # Redis agrees
    assert await admission_order(room, clock, concert, [tokens[i] for i in kept_in_drawn_order]) == list(range(6))


async def test_two_processes_agree_on_every_position_and_either_admits_the_drawn_order(services: Services) -> None:
    room, clock = configure(services, queue_admit_per_second=1, queue_max_active=1000)
    room.new_draw_key = lambda: FIXED_KEY
    pool = await create_pool(services.settings.model_copy(update={"db_pool_size": 2}))
    redis = create_redis(services.settings)
    other = build_services(services.settings, pool, redis).waiting_room
    other.settings, other.clock = room.settings, clock
    # The draw's key is the one committed to by the pre-queue's first join (here room's).
    other.new_draw_key = lambda: "ffeeddccbbaa99887766554433221100"
    try:
        concert = await create_concert(services)
        await open_sale_at(services, concert, moment(clock, 30))
        fans = [await create_user(services) for _ in range(12)]
        opens_at = await services.schedules.sale_opens_at(concert)
        tokens = [
            (await (other if i % 2 else room).issue_token(f.principal, concert, sale_opens_at=opens_at))[0].token
            for i, f in enumerate(fans)
        ]

        async def standings(process: WaitingRoomService) -> list[tuple[str, int | None, bool]]:
            infos = [await process.token_info(t) for t in tokens]
            return [(i.status, i.position, i.pre_queue) for i in infos]

        assert await standings(room) == await standings(other) == [("WAITING", 12, True)] * 12
        clock.advance(30)
        assert await room.admit(concert) == 1  # this process draws and admits the first
        first = await standings(room)
        assert first == await standings(other)
        assert [position for _, position, _ in first] == [
            None if rank == 1 else rank - 1 for rank in (Draw(12, FIXED_KEY).rank(s) for s in range(1, 13))
        ]
        # The admitter moves from process to process (as the lease would): the order goes on.
        order = [first.index(("ACTIVE", None, False))]
        for tick in range(11):
            clock.advance(1)
            assert await (other if tick % 2 == 0 else room).admit(concert) == 1
            now = await standings(room)
            assert now == await standings(other)
            order += [i for i, (status, _, _) in enumerate(now) if status == "ACTIVE" and i not in order]
        assert order == DRAWN_12
    finally:
        await redis.aclose()
        await pool.close()


async def test_a_drawn_pre_queue_forgets_its_oldest_admissions_by_rank(services: Services) -> None:
    room, clock = configure(services, queue_admit_per_second=3, queue_max_active=1000)
    room.new_draw_key = lambda: FIXED_KEY
    ttl, retain = services.settings.queue_active_ttl_seconds, services.settings.queue_retain_finished_seconds
    concert = await create_concert(services)
    await open_sale_at(services, concert, moment(clock, 10))
    fans = [await create_user(services) for _ in range(6)]
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in fans]
    clock.advance(10)
    assert await room.admit(concert) == 3  # the draw's first three
    first_three = [Draw(6, FIXED_KEY).seq_at(rank) - 1 for rank in (1, 2, 3)]
    second = [i for i in range(6) if i not in first_three]
    await room.finish(await room.require_admitted(tokens[first_three[0]], fans[first_three[0]].id))
    clock.advance(ttl + 30)
    for i in second:  # still waiting: they keep polling
        assert (await room.token_info(tokens[i])).status == "WAITING"
    await room.views.sync(concert)
    clock.advance(30)
    assert await room.admit(concert) == 3  # the rest, ttl + 60 s after the first three
    clock.advance(retain - 59)  # the first step is older than ttl + retention, the second is not
    await room.admit(concert)
    for i in first_three:  # forgotten: scattered arrival numbers, the lowest ranks
        assert await code_of(room.token_info(tokens[i])) == (401, "TOKEN_INVALID")
    assert [(await room.token_info(tokens[i])).status for i in second] == ["ACTIVE"] * 3
    records = await services.redis.hkeys(f"wr:{{{concert}}}:tok")
    assert sorted(int(seq) for seq in records) == [i + 1 for i in second]
    assert await services.redis.zcard(f"wr:{{{concert}}}:done") == 0


async def test_a_date_that_opens_sooner_moves_the_opening_earlier(services: Services, monkeypatch: Any) -> None:
    monkeypatch.setattr("ticketing.schedules.service.OPENING_CACHE_SECONDS", 0)  # see the new date at once
    room, clock = configure(services, queue_admit_per_second=10, queue_max_active=1000)
    room.new_draw_key = lambda: FIXED_KEY
    concert = await create_concert(services)
    await open_sale_at(services, concert, moment(clock, 600))
    fans = [await create_user(services) for _ in range(4)]
    tokens = [(await join_queue(services, f.principal, concert))[0].token for f in fans[:3]]
    sooner = moment(clock, 30)
    await open_sale_at(services, concert, sooner)
    last, _ = await join_queue(services, fans[3].principal, concert)
    assert (last.pre_queue, last.position, last.sale_opens_at) == (True, 4, sooner)
    assert {(await room.token_info(t)).sale_opens_at for t in tokens} == {sooner}
    clock.advance(30)
    assert await room.admit(concert) == 4  # the draw came at the sooner opening


async def test_a_queue_that_admitted_someone_stays_first_come_for_its_generation(
    services: Services, monkeypatch: Any
) -> None:
    monkeypatch.setattr("ticketing.schedules.service.OPENING_CACHE_SECONDS", 0)  # see the new date at once
    room, clock = configure(services, queue_admit_per_second=10, queue_max_active=1000)
    concert = await create_concert(services)  # no dates yet: open, first come first served
    early, late = await create_user(services), await create_user(services)
    await join_queue(services, early.principal, concert)
    assert await room.admit(concert) == 1
    await open_sale_at(services, concert, moment(clock, 600))  # a date added afterwards
    joined, _ = await join_queue(services, late.principal, concert)
    assert (joined.pre_queue, joined.sale_opens_at, joined.position) == (False, None, 1)
    assert await room.admit(concert) == 1
    assert await services.redis.exists(f"wr:{{{concert}}}:start") == 0


async def test_a_concert_already_open_is_a_plain_first_come_queue(services: Services) -> None:
    room, clock = configure(services, queue_admit_per_second=1, queue_max_active=1000)
    with_open_date, without_dates = await create_concert(services), await create_concert(services)
    await create_schedule(services, with_open_date)  # opened an hour ago
    fans = [await create_user(services) for _ in range(5)]
    for concert in (with_open_date, without_dates):
        issued = [(await join_queue(services, f.principal, concert))[0] for f in fans]
        assert [(t.position, t.pre_queue, t.sale_opens_at) for t in issued] == [(i, False, None) for i in range(1, 6)]
        assert await services.redis.exists(f"wr:{{{concert}}}:start") == 0
        assert await admission_order(room, clock, concert, [t.token for t in issued]) == [0, 1, 2, 3, 4]


async def test_pre_queued_fans_wake_up_spread_over_the_first_seconds_after_the_opening(services: Services) -> None:
    room, _ = configure(services, queue_waiting_grace_seconds=60)
    opens, million = 1_800_000_000_000, 1_000_000
    near = [room.pre_queue_poll_after_ms(seq, opens - 10_000, opens, million) for seq in range(1, 1001)]
    assert all(10_000 <= wait < 10_000 + 20_000 for wait in near)  # within a third of the grace after it
    assert len(set(near)) == 1000  # each at their own moment: 1,000 fans, 1,000 different milliseconds
    far = [room.pre_queue_poll_after_ms(seq, opens - 3_600_000, opens, million) for seq in range(1, 1001)]
    assert all(54_000 <= wait <= 66_000 for wait in far)  # an hour ahead: every minute or so meanwhile
    assert room.pre_queue_poll_after_ms(7, opens + 60_000, opens, million) == 500  # late for the wake-up: soon
    # A small pre-queue is told within the first second (50,000 wake-ups a second at most).
    small = [room.pre_queue_poll_after_ms(seq, opens - 10_000, opens, 500) for seq in range(1, 501)]
    assert all(10_000 <= wait < 11_000 for wait in small)
    assert len(set(small)) == 500


async def test_fair_start_over_http(client: AsyncTestClient[Litestar], services: Services) -> None:
    # The server process and the admitter (this test's own services: the server runs in its own
    # event loop) share Redis and a clock.
    server: WaitingRoomService = client.app.state.services.waiting_room
    room, clock = configure(services, queue_admit_per_second=2, queue_max_active=1000)
    server.clock, server.settings = clock, room.settings
    room.new_draw_key = server.new_draw_key = lambda: FIXED_KEY
    concert = await create_concert(services)
    opens = moment(clock, 30)
    await open_sale_at(services, concert, opens)
    fans = [await create_user(services) for _ in range(5)]

    tokens = []
    for i, fan in enumerate(fans):
        joined = await client.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=fan.headers)
        assert joined.status_code == 201, joined.text
        body = joined.json()
        assert (body["status"], body["position"], body["pre_queue"]) == ("WAITING", i + 1, True)
        assert datetime.fromisoformat(body["sale_opens_at"]) == opens
        tokens.append(body["token"])

    def poll(token: str) -> dict[str, str]:
        return {"X-Queue-Token": token}

    for token in tokens:
        info = (await client.get("/api/v1/queue/tokens/me", headers=poll(token))).json()
        assert (info["status"], info["position"], info["pre_queue"]) == ("WAITING", 5, True)
        assert datetime.fromisoformat(info["sale_opens_at"]) == opens
        assert 30_000 <= info["poll_after_ms"] < 30_000 + 20_000  # around the opening, not before

    clock.advance(30)
    assert await room.admit(concert) == 2  # the draw, then the two it put first
    draw = Draw(5, FIXED_KEY)
    infos = [(await client.get("/api/v1/queue/tokens/me", headers=poll(t))).json() for t in tokens]
    assert [(i["status"], i["position"]) for i in infos] == [
        ("ACTIVE", None) if draw.rank(seq) <= 2 else ("WAITING", draw.rank(seq) - 2) for seq in range(1, 6)
    ]
    assert {i["pre_queue"] for i in infos} == {False}
    assert {i["sale_opens_at"] for i in infos} == {infos[0]["sale_opens_at"]}

    schemas = client.app.openapi_schema.to_schema()["components"]["schemas"]
    for name in ("QueueTokenOut", "QueueTokenInfoOut"):
        assert {"sale_opens_at", "pre_queue"} <= set(schemas[name]["properties"]), name

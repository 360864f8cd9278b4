"""The public concert list says where each sale stands (오픈 예정 / 예매 중 / 매진), with the next
opening for the page's countdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import create_concert, create_schedule
from tests.support import Client
from ticketing.container import Services
from ticketing.schedules.schemas import ScheduleIn


async def sell_every_seat(services: Services, schedule_id: int) -> None:
    async with services.uow() as uow:
        await uow.conn.execute("UPDATE seats SET status = 'SOLD' WHERE schedule_id = $1", schedule_id)
        await uow.commit()


async def test_each_concert_carries_its_sale_state_and_next_opening(client: Client, services: Services) -> None:
    now = datetime.now(UTC)
    unscheduled = await create_concert(services, "No dates yet")
    upcoming = await create_concert(services, "Opens tomorrow")
    coming = await create_schedule(services, upcoming, is_open=False)
    on_sale = await create_concert(services, "On sale")
    await create_schedule(services, on_sale)
    sold_out = await create_concert(services, "Sold out")
    await sell_every_seat(services, (await create_schedule(services, sold_out, seats=3)).id)
    closed = await create_concert(services, "Over")
    await services.schedules.create_schedule(
        closed,
        ScheduleIn(
            starts_at=now - timedelta(days=1),
            reservation_opens_at=now - timedelta(days=9),
            reservation_closes_at=now - timedelta(days=2),
            price=10_000,
            seat_count=2,
        ),
    )
    # Sold out now, but another date opens later: the fan is told when, not "매진".
    second_round = await create_concert(services, "Second round")
    await sell_every_seat(services, (await create_schedule(services, second_round, seats=2)).id)
    await create_schedule(services, second_round, is_open=False)

    answer = await client.get("/api/v1/concerts")
    assert answer.status_code == 200
    states = {c["id"]: (c["sale_state"], c["sale_opens_at"]) for c in answer.json()}
    assert states[unscheduled] == ("NOT_SCHEDULED", None)
    assert states[upcoming][0] == "UPCOMING"
    assert datetime.fromisoformat(states[upcoming][1]) == coming.reservation_opens_at
    assert states[on_sale] == ("ON_SALE", None)
    assert states[sold_out] == ("SOLD_OUT", None)
    assert states[closed] == ("CLOSED", None)
    assert states[second_round][0] == "UPCOMING"
    # The fields the list always had are unchanged.
    assert {"id", "title", "venue", "description"} <= set(answer.json()[0])

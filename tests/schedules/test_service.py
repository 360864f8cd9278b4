"""The schedules domain owns the seats: how a hold takes a seat under each lock strategy, how
released and lapsed holds give it back, and the reads other domains make through its service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import create_concert, create_schedule, fans_with_tokens, lapse_hold
from ticketing.concerts.errors import ConcertNotFound
from ticketing.config import Settings
from ticketing.container import Services, open_services
from ticketing.kernel.errors import AppError
from ticketing.schedules.repository import SeatRepository
from ticketing.schedules.schemas import ScheduleIn, SeatRow

HOLD = timedelta(minutes=5)


async def _status(services: Services, seat_id: int) -> tuple[str, bool]:
    [seat] = await services.schedules.read_seats([seat_id])
    return seat.status, seat.free


async def test_a_seat_is_taken_once(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    async with services.uow() as uow:
        taken = await services.schedules.take_seat(uow, seat_id, HOLD)
        again = await services.schedules.take_seat(uow, seat_id, HOLD)
        await uow.commit()
    assert taken is not None
    assert (taken.status, taken.free) == ("HELD", False)
    assert again is None  # held and not lapsed: not free
    assert await _status(services, seat_id) == ("HELD", False)


async def test_a_rolled_back_take_leaves_the_seat_free(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    async with services.uow() as uow:
        assert await services.schedules.take_seat(uow, seat_id, HOLD) is not None
        # no commit: the caller's transaction decides
    assert await _status(services, seat_id) == ("AVAILABLE", True)


async def test_freeing_lapsed_seats_never_frees_a_live_hold(services: Services) -> None:
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=2)).seats]
    [(fan, token)] = await fans_with_tokens(services, concert, 1)
    lapsing, live = await services.reservations.hold_seats(fan.principal, token, seats)
    await lapse_hold(services, lapsing.id)
    async with services.uow() as uow:
        await services.schedules.free_seats(uow, seats, lapsed_only=True)
        await uow.commit()
    assert await _status(services, seats[0]) == ("AVAILABLE", True)
    assert await _status(services, seats[1]) == ("HELD", False)  # its hold is still running
    async with services.uow() as uow:
        await services.schedules.free_seats(uow, [seats[1]])  # a released hold's seat
        await uow.commit()
    assert await _status(services, seats[1]) == ("AVAILABLE", True)
    assert live.seat_id == seats[1]


async def test_the_sale_opens_at_the_earliest_opening_of_the_dates(services: Services) -> None:
    concert = await create_concert(services)
    assert await services.schedules.sale_opens_at(concert) is None  # no dates yet
    now = datetime.now(UTC).replace(microsecond=0)
    for opens_in in (timedelta(days=3), timedelta(days=1)):
        await services.schedules.create_schedule(
            concert,
            ScheduleIn(
                starts_at=now + timedelta(days=10),
                reservation_opens_at=now + opens_in,
                reservation_closes_at=now + timedelta(days=9),
                price=1_000,
                seat_count=1,
            ),
        )
    assert await services.schedules.sale_opens_at(concert) == now + timedelta(days=1)
    with pytest.raises(ConcertNotFound):
        await services.schedules.sale_opens_at(999_999_999)


async def test_schedule_ids_are_the_concerts_own(services: Services) -> None:
    concert, other = await create_concert(services), await create_concert(services)
    mine = [(await create_schedule(services, concert, seats=1)).id for _ in range(2)]
    await create_schedule(services, other, seats=1)
    assert await services.schedules.schedule_ids(concert) == sorted(mine)


def count_first_looks(services: Services) -> list[list[int]]:
    """The seat ids of each read of seats a hold makes before any lock (``read_many``), counted
    by a seat repository the services' units of work build in place of theirs."""
    reads: list[list[int]] = []

    class CountedSeats(SeatRepository):
        async def read_many(self, seat_ids: Sequence[int]) -> list[SeatRow]:
            reads.append(list(seat_ids))
            return await super().read_many(seat_ids)

    services.uow.repositories[SeatRepository] = CountedSeats
    return reads


async def test_the_first_looks_of_holds_waiting_together_are_one_read(services: Services) -> None:
    """A hold race's losers whose seats this process does not remember as taken read them first;
    those waiting at the same moment share one read, and each is answered for its own seat."""
    concert = await create_concert(services)
    seats = [seat.id for seat in (await create_schedule(services, concert, seats=4)).seats]
    fans = await fans_with_tokens(services, concert, 13)
    (taker, taker_token), contenders = fans[0], fans[1:]
    await services.reservations.hold_seat(taker.principal, taker_token, seats[0])
    services.schedules.forget_taken([seats[0]])  # as once the memory has run out
    reads = count_first_looks(services)
    wanted = [seats[0]] * 10 + [seats[1], seats[2]]
    outcomes = await asyncio.gather(
        *(
            services.reservations.hold_seat(fan.principal, token, seat)
            for (fan, token), seat in zip(contenders, wanted, strict=True)
        ),
        return_exceptions=True,
    )
    assert [getattr(o, "code", None) for o in outcomes[:10]] == ["SEAT_UNAVAILABLE"] * 10
    assert [getattr(o, "seat_id", None) for o in outcomes[10:]] == [seats[1], seats[2]]
    assert len(reads) == 1 and sorted(reads[0]) == sorted(set(wanted))  # one read for all twelve


async def test_a_race_loser_is_told_from_memory_and_a_release_forgets(services: Services) -> None:
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    (winner, winner_token), (loser, loser_token) = await fans_with_tokens(services, concert, 2)
    reads = count_first_looks(services)
    held = await services.reservations.hold_seat(winner.principal, winner_token, seat_id)
    for _ in range(3):
        with pytest.raises(AppError) as refused:
            await services.reservations.hold_seat(loser.principal, loser_token, seat_id)
        assert refused.value.code == "SEAT_UNAVAILABLE"
    assert reads == [[seat_id], [seat_id]]  # the winner's first look and the first loser's; then memory
    await services.reservations.release(winner.principal, held.id)
    again = await services.reservations.hold_seat(loser.principal, loser_token, seat_id)  # forgotten at once
    assert again.seat_id == seat_id


async def test_memory_of_a_held_seat_ends_with_its_hold(services: Services) -> None:
    services.schedules.cache_seconds = 60.0  # so that only the hold's end can end it
    services.reservations.hold = timedelta(seconds=0.3)
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    (winner, winner_token), (loser, loser_token) = await fans_with_tokens(services, concert, 2)
    await services.reservations.hold_seat(winner.principal, winner_token, seat_id)
    with pytest.raises(AppError):
        await services.reservations.hold_seat(loser.principal, loser_token, seat_id)
    assert services.schedules.known_taken(seat_id) is not None
    await asyncio.sleep(0.35)  # the hold runs out: so does the memory of it, before any sweeper
    assert services.schedules.known_taken(seat_id) is None
    assert (await services.reservations.hold_seat(loser.principal, loser_token, seat_id)).seat_id == seat_id


async def test_a_seat_remembered_taken_is_looked_at_again_before_its_memory_runs_out(
    services: Services, settings: Settings
) -> None:
    """From half the bound on, the next loser is still told from memory and one look in the
    background renews the memory (taken still) or ends it (freed by another process)."""
    services.schedules.cache_seconds = 1.0
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    (winner, winner_token), (loser, loser_token) = await fans_with_tokens(services, concert, 2)
    held = await services.reservations.hold_seat(winner.principal, winner_token, seat_id)
    services.schedules.forget_taken([seat_id])
    async with open_services(settings) as another_process:
        reads = count_first_looks(services)
        with pytest.raises(AppError):
            await services.reservations.hold_seat(loser.principal, loser_token, seat_id)  # read, remembered
        assert reads == [[seat_id]]

        await asyncio.sleep(0.6)  # past half the bound
        assert services.schedules.known_taken(seat_id) is not None  # told from memory, a look started
        assert services.schedules.known_taken(seat_id) is not None  # one look at a time
        await asyncio.sleep(0.2)
        assert reads == [[seat_id], [seat_id]]
        await asyncio.sleep(0.4)  # the first memory would have run out by now: renewed
        assert services.schedules.known_taken(seat_id) is not None  # (a second look starts)
        await asyncio.sleep(0.2)

        await another_process.reservations.release(winner.principal, held.id)
        await asyncio.sleep(0.3)  # the memory of the second look is half a bound old
        assert services.schedules.known_taken(seat_id) is not None  # within the bound; a look starts
        await asyncio.sleep(0.2)
        assert services.schedules.known_taken(seat_id) is None  # it saw the seat free
    assert (await services.reservations.hold_seat(loser.principal, loser_token, seat_id)).seat_id == seat_id


async def test_a_look_that_began_before_this_process_freed_the_seat_is_not_kept(services: Services) -> None:
    services.schedules.cache_seconds = 0.2
    concert = await create_concert(services)
    seat_id = (await create_schedule(services, concert, seats=1)).seats[0].id
    (winner, winner_token), (loser, loser_token) = await fans_with_tokens(services, concert, 2)
    held = await services.reservations.hold_seat(winner.principal, winner_token, seat_id)
    with pytest.raises(AppError):
        await services.reservations.hold_seat(loser.principal, loser_token, seat_id)
    read, answer = asyncio.Event(), asyncio.Event()

    class SlowSeats(SeatRepository):
        async def read_many(self, seat_ids: Sequence[int]) -> list[SeatRow]:
            rows = await super().read_many(seat_ids)  # taken, as of now
            read.set()
            await answer.wait()
            return rows

    await asyncio.sleep(0.12)
    services.uow.repositories[SeatRepository] = SlowSeats
    assert services.schedules.known_taken(seat_id) is not None  # the look starts
    async with asyncio.timeout(5):
        await read.wait()
    del services.uow.repositories[SeatRepository]
    await services.reservations.release(winner.principal, held.id)  # forgotten at once
    answer.set()
    await asyncio.sleep(0.05)
    assert services.schedules.known_taken(seat_id) is None  # the look's "taken" predates the release

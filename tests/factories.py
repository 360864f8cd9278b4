"""Plain async factories. Users get a password hash computed once per session: a real argon2
hash costs ~100 ms, and a race test needs a hundred users."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from ticketing.container import Services
from ticketing.kernel.errors import AppError
from ticketing.kernel.security import Principal, hash_password_sync
from ticketing.schedules.schemas import ScheduleCreatedOut
from ticketing.users.repository import UserRepository
from ticketing.venues.schemas import VenueOut
from ticketing.waiting_room.schemas import QueueTokenOut
from ticketing.wallets.repository import Charge, WalletRepository

PASSWORD = "correct-horse-battery"  # noqa: S105
_names = itertools.count(1)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password_sync(PASSWORD)


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # a factory product, not a test class

    id: int
    name: str
    wallet_id: int
    token: str
    principal: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_user(services: Services, *, name: str | None = None, balance: int = 0, role: str = "fan") -> TestUser:
    name = name or f"user{next(_names):05d}"
    async with services.uow() as uow:
        user_id = await uow.repo(UserRepository).add(name, _password_hash(), role)
        wallets = uow.repo(WalletRepository)
        wallet_id = await wallets.create(user_id)
        if balance:
            await wallets.charge([Charge(wallet_id, user_id, balance)], cap=balance)
        await uow.commit()
    principal = Principal(user_id=user_id, name=name, role=role)  # type: ignore[arg-type]
    return TestUser(user_id, name, wallet_id, services.users.issue_token(principal), principal)


async def create_concert(services: Services, title: str = "Test concert") -> int:
    from ticketing.concerts.schemas import ConcertIn

    return (await services.concerts.create_concert(ConcertIn(title=title))).id


async def join_queue(services: Services, principal: Principal, concert_id: int) -> tuple[QueueTokenOut, bool]:
    """Join the concert's queue as the HTTP handler does: the sale's opening from the schedules."""
    opens_at = await services.schedules.sale_opens_at(concert_id)
    return await services.waiting_room.issue_token(principal, concert_id, sale_opens_at=opens_at)


async def admitted_token(services: Services, user: TestUser, concert_id: int) -> str:
    """Join the queue and run admission ticks until this user's token is active."""
    token, _ = await join_queue(services, user.principal, concert_id)
    for _ in range(100):
        if (await services.waiting_room.token_info(token.token)).status == "ACTIVE":
            return token.token
        await services.waiting_room.admit(concert_id)
    raise AssertionError("token was not admitted")


async def create_schedule(
    services: Services,
    concert_id: int,
    *,
    seats: int = 10,
    price: int = 10_000,
    is_open: bool = True,
    starts_at: datetime | None = None,
) -> ScheduleCreatedOut:
    """A date whose sale is open now (``is_open``, else it opens tomorrow), starting in ten days
    or at ``starts_at``; its sale closes at the start or in nine days, whichever comes first."""
    from ticketing.schedules.schemas import ScheduleIn

    now = datetime.now(UTC)
    starts_at = starts_at or now + timedelta(days=10)
    opens = now - timedelta(hours=1) if is_open else now + timedelta(days=1)
    return await services.schedules.create_schedule(
        concert_id,
        ScheduleIn(
            starts_at=starts_at,
            reservation_opens_at=opens,
            reservation_closes_at=min(starts_at, now + timedelta(days=9)),
            price=price,
            seat_count=seats,
        ),
    )


async def create_venue_date(
    services: Services, concert_id: int, plan: dict[str, Any], prices: dict[str, int], name: str = "Arena"
) -> tuple[VenueOut, ScheduleCreatedOut]:
    """A venue from ``plan`` and a date on it, priced per class, whose sale is open now (it
    starts in ten days, its sale closes in nine)."""
    from ticketing.schedules.schemas import ScheduleIn
    from ticketing.venues.schemas import VenueIn

    venue = await services.venues.create_venue(VenueIn(name=name, plan=plan))
    now = datetime.now(UTC)
    date = await services.schedules.create_schedule(
        concert_id,
        ScheduleIn(
            starts_at=now + timedelta(days=10),
            reservation_opens_at=now - timedelta(hours=1),
            reservation_closes_at=now + timedelta(days=9),
            venue_id=venue.id,
            prices=prices,
        ),
    )
    return venue, date


async def lapse_hold(services: Services, reservation_id: int, seconds_ago: float = 1.0) -> None:
    """Make a hold's time run out now, as if TICKETING_HOLD_SECONDS had passed (the process's
    memory of taken seats, which bounds itself by the hold's end, is told so too)."""
    async with services.uow() as uow:
        seat_id = await uow.conn.fetchval(
            "WITH r AS (UPDATE reservations SET held_until = now() - make_interval(secs => $2) "
            "WHERE id = $1 RETURNING seat_id, held_until) "
            "UPDATE seats SET held_until = r.held_until FROM r WHERE seats.id = r.seat_id RETURNING seats.id",
            reservation_id,
            seconds_ago,
        )
        await uow.commit()
    services.schedules.forget_taken([seat_id])


async def fans_with_tokens(
    services: Services, concert: int, count: int, balance: int = 0
) -> list[tuple[TestUser, str]]:
    fans = [await create_user(services, balance=balance) for _ in range(count)]
    return [(fan, await admitted_token(services, fan, concert)) for fan in fans]


def outcome_codes(outcomes: list[Any]) -> list[str]:
    codes = []
    for outcome in outcomes:
        if isinstance(outcome, AppError):
            assert outcome.status < 500, outcome
            codes.append(outcome.code)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            codes.append("OK")
    return codes

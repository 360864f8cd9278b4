"""Seat holds (seed flow 7), their release and their expiry.

Lock order, shared with payments: reservation -> seat -> wallet. A hold
0. reads the seat without a lock: a seat already held or sold answers 409 at once;
1. (strategy ``redis+db``) takes the Redis simple lock of the seat: concurrent contenders fail
   fast with 409;
then, in one transaction:
2. the user's advisory lock (per-user hold cap);
2b. with TICKETING_MAX_HOLDS_PER_ADDRESS, the advisory lock of (schedule, client address): the
   per-address cap against throwaway accounts (always after the user's lock, so never a cycle);
3. the lapsed hold of the seat, if any (UPDATE ... EXPIRED: locks that reservation row);
4. the seat row (``FOR UPDATE``; or a conditional UPDATE for ``conditional``);
and writes the reservation. The partial unique index (one HELD/CONFIRMED reservation per seat)
backs all of this up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from ticketing.core.errors import ServiceUnavailable
from ticketing.core.locking import retry_on_conflict
from ticketing.core.pagination import decode_cursor, next_cursor
from ticketing.core.security import Principal
from ticketing.core.uow import UnitOfWorkFactory
from ticketing.reservations.errors import (
    HoldLimitReached,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
    SeatNotFound,
    SeatUnavailable,
)
from ticketing.reservations.repository import ReservationRepository, ReservationRow, SeatRow
from ticketing.reservations.schemas import ReservationOut, ReservationPage, TopHolders
from ticketing.reservations.store import SeatLockStore
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.service import WaitingRoomService

log = logging.getLogger(__name__)

SeatLockStrategy = Literal["redis+db", "db", "conditional", "optimistic", "redis", "none"]
REDIS_LOCKED = ("redis+db", "redis")
SEAT_LOCK_TTL_MS = 5000  # longer than any hold transaction (bounded by lock and statement timeouts)


def reservation_out(row: ReservationRow) -> ReservationOut:
    return ReservationOut(
        id=row.id,
        seat_id=row.seat_id,
        schedule_id=row.schedule_id,
        user_id=row.user_id,
        status=row.shown_status,  # type: ignore[arg-type]
        price=row.price,
        held_until=row.held_until,
        seat_number=row.seat_number,
    )


class ReservationService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        seat_locks: SeatLockStore,
        waiting_room: WaitingRoomService,
        schedules: ScheduleService,
        *,
        strategy: SeatLockStrategy,
        hold_seconds: int,
        max_holds_per_user: int,
        max_holds_per_address: int = 0,
    ) -> None:
        self._uow_factory = uow_factory
        self._seat_locks = seat_locks
        self._waiting_room = waiting_room
        self._schedules = schedules
        self.strategy = strategy
        self.hold = timedelta(seconds=hold_seconds)
        self.max_holds_per_user = max_holds_per_user
        self.max_holds_per_address = max_holds_per_address

    async def hold_seat(
        self, principal: Principal, queue_token: str | None, seat_id: int, *, client_address: str | None = None
    ) -> ReservationOut:
        admitted = await self._waiting_room.require_admitted(queue_token, principal.user_id)
        seat = await self._read_seat(seat_id)
        await self._schedules.open_schedule(seat.schedule_id, admitted)
        if not seat.free:
            # The losers of a race learn it from one read, before any lock; a seat that looks
            # free is checked again under the locks below.
            raise SeatUnavailable()
        owner = await self._take_redis_lock(seat_id) if self.strategy in REDIS_LOCKED else None
        try:

            async def attempt() -> ReservationOut:
                async with self._uow_factory() as uow:
                    repo = ReservationRepository(uow.conn)
                    await repo.lock_user_holds(principal.user_id)
                    if await repo.count_live_holds(principal.user_id) >= self.max_holds_per_user:
                        raise HoldLimitReached(f"at most {self.max_holds_per_user} seats may be held at once")
                    if self.max_holds_per_address and client_address is not None:
                        await self._check_address_cap(repo, seat.schedule_id, client_address)
                    await repo.expire_lapsed_hold(seat_id)
                    held = await self._claim(repo, seat_id)
                    row = await repo.insert_hold(principal.user_id, held, client_address)
                    await uow.commit()
                self._schedules.invalidate(row.schedule_id)
                return reservation_out(row)

            return await retry_on_conflict(attempt)
        finally:
            if owner is not None:
                await self._release_redis_lock(seat_id, owner)

    async def _check_address_cap(self, repo: ReservationRepository, schedule_id: int, address: str) -> None:
        await repo.lock_address_holds(schedule_id, address)
        if await repo.count_live_holds_from(schedule_id, address) >= self.max_holds_per_address:
            raise HoldLimitReached(
                f"at most {self.max_holds_per_address} seats of one date may be held at once from one network "
                "address, whatever the accounts; pay for or release a hold first"
            )

    async def top_holders(self, concert_id: int, limit: int = 10) -> TopHolders:
        """The operators' view of hoarding: the addresses and accounts with the most live holds."""
        async with self._uow_factory(autocommit=True) as uow:
            repo = ReservationRepository(uow.conn)
            addresses = await repo.top_addresses(concert_id, limit)
            accounts = await repo.top_accounts(concert_id, limit)
        return TopHolders(addresses=addresses, accounts=accounts)

    async def _read_seat(self, seat_id: int) -> SeatRow:
        async with self._uow_factory(autocommit=True) as uow:
            seat = await ReservationRepository(uow.conn).read_seat(seat_id)
        if seat is None:
            raise SeatNotFound()
        return seat

    async def _claim(self, repo: ReservationRepository, seat_id: int) -> SeatRow:
        if self.strategy == "conditional":
            claimed = await repo.claim_seat_if_free(seat_id, self.hold)
        elif self.strategy == "optimistic":
            read = await repo.read_seat(seat_id)
            claimed = await repo.claim_seat_if_unchanged(read, self.hold) if read and read.free else None
        elif self.strategy in ("redis", "none"):
            # No database lock: only the Redis lock (``redis``) or nothing at all (``none``, for
            # the benchmark) stands before the partial unique index.
            read = await repo.read_seat(seat_id)
            claimed = await repo.mark_seat_held(seat_id, self.hold) if read and read.free else None
        else:
            locked = await repo.lock_seat(seat_id)
            claimed = await repo.mark_seat_held(seat_id, self.hold) if locked and locked.free else None
        if claimed is None:
            raise SeatUnavailable()
        return claimed

    async def _take_redis_lock(self, seat_id: int) -> str | None:
        """Fail fast when another request holds the seat's lock. With Redis down the database
        path alone stays correct, so the lock is skipped rather than failing the hold."""
        try:
            owner = await self._seat_locks.acquire(seat_id, SEAT_LOCK_TTL_MS)
        except ServiceUnavailable:
            if self.strategy == "redis":
                raise  # the Redis lock is this strategy's only guard
            log.warning("seat lock skipped: Redis unavailable; the database decides alone", extra={"seat": seat_id})
            return None
        if owner is None:
            raise SeatUnavailable()
        return owner

    async def _release_redis_lock(self, seat_id: int, owner: str) -> None:
        try:
            await self._seat_locks.release(seat_id, owner)
        except ServiceUnavailable:
            log.warning("seat lock not released: Redis unavailable; it expires by itself", extra={"seat": seat_id})

    async def live_hold_until(self, user_id: int, concert_id: int) -> datetime | None:
        """When the user's latest live hold in the concert ends (the waiting room's proof of
        admission for a token of a queue Redis lost); None without one."""
        async with self._uow_factory(autocommit=True) as uow:
            return await ReservationRepository(uow.conn).live_hold_until(user_id, concert_id)

    async def get_reservation(self, principal: Principal, reservation_id: int) -> ReservationOut:
        async with self._uow_factory(autocommit=True) as uow:
            row = await ReservationRepository(uow.conn).get(reservation_id)
        return reservation_out(self._owned(row, principal))

    async def list_reservations(self, principal: Principal, cursor: str | None, limit: int) -> ReservationPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await ReservationRepository(uow.conn).page_of_user(principal.user_id, before, limit + 1)
        return ReservationPage(
            items=[reservation_out(r) for r in rows[:limit]], next_cursor=next_cursor([r.id for r in rows], limit)
        )

    async def release(self, principal: Principal, reservation_id: int) -> None:
        async def attempt() -> int:
            async with self._uow_factory() as uow:
                repo = ReservationRepository(uow.conn)
                row = self._owned(await repo.get(reservation_id, for_update=True), principal)
                if row.status != "HELD" or row.lapsed:
                    raise ReservationNotHeld()
                await repo.cancel(row)
                await uow.commit()
            return row.schedule_id

        self._schedules.invalidate(await retry_on_conflict(attempt))

    async def expire_lapsed(self, batch: int = 500) -> int:
        """The sweeper: one batch per call, safe in many processes at once (SKIP LOCKED)."""
        async with self._uow_factory() as uow:
            expired = await ReservationRepository(uow.conn).expire_lapsed_batch(batch)
            await uow.commit()
        for schedule_id in {e.schedule_id for e in expired}:
            self._schedules.invalidate(schedule_id)
        return len(expired)

    @staticmethod
    def _owned(row: ReservationRow | None, principal: Principal) -> ReservationRow:
        if row is None:
            raise ReservationNotFound()
        if row.user_id != principal.user_id:
            raise ReservationUserMismatch()
        return row

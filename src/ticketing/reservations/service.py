"""Seat holds, their release and their expiry.

Lock order, shared with payments: reservation -> seat -> wallet. A hold
0. reads the seat without a lock: a seat already held or sold answers 409 at once;
1. (strategy ``redis+db``) takes the Redis simple lock of the seat: concurrent contenders fail
   fast with 409;
then, in one transaction:
2. the user's advisory lock: the per-user hold cap (live holds of every date) and the per-fan
   ticket limit (held plus paid seats of the date), counted by one statement under it;
2b. with TICKETING_MAX_HOLDS_PER_ADDRESS, the advisory lock of (schedule, client address): the
   per-address cap against throwaway accounts (always after the user's lock, so never a cycle);
3. the lapsed hold of the seat, if any (UPDATE ... EXPIRED: locks that reservation row);
4. the seat row (``FOR UPDATE``);
and writes the reservation. The partial unique index (one HELD/CONFIRMED reservation per seat)
backs all of this up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from ticketing.kernel.errors import ServiceUnavailable
from ticketing.kernel.ids import distinct_ids
from ticketing.kernel.locking import SeatLockStrategy, retry_on_conflict
from ticketing.kernel.pagination import decode_cursor, next_cursor
from ticketing.kernel.security import Principal
from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.reservations.errors import (
    LOCKED,
    SOLD_OUT,
    TAKEN_UNDER_LOCK,
    HoldLimitReached,
    InvalidSeatSelection,
    ReservationExpired,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
    SeatNotFound,
    SeatUnavailable,
    TicketLimitReached,
    seats_unavailable,
)
from ticketing.reservations.repository import ReservationRepository, ReservationRow
from ticketing.reservations.schemas import AccountHolds, Allowance, ReservationOut, ReservationPage, TopHolders
from ticketing.reservations.store import SeatLockStore
from ticketing.schedules.errors import ScheduleNotOpen
from ticketing.schedules.schemas import SeatRow
from ticketing.schedules.service import ScheduleService
from ticketing.users.service import UserService
from ticketing.waiting_room.service import AdmittedToken, WaitingRoomService

log = logging.getLogger(__name__)

SEAT_LOCK_TTL_MS = 5000  # longer than any hold transaction (bounded by lock and statement timeouts)
# How many picks a best-available request makes before it gives up (each lost pick is a block
# of seats another request got).
BEST_AVAILABLE_ATTEMPTS = 16


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
        users: UserService,
        *,
        strategy: SeatLockStrategy,
        hold_seconds: int,
        max_holds_per_user: int,
        max_holds_per_address: int = 0,
        max_seats_per_hold: int = 4,
        max_tickets_per_fan: int = 4,
    ) -> None:
        self._uow_factory = uow_factory
        self._seat_locks = seat_locks
        self._waiting_room = waiting_room
        self._schedules = schedules
        self._users = users
        self.strategy = strategy
        self.hold = timedelta(seconds=hold_seconds)
        self.max_holds_per_user = max_holds_per_user
        self.max_holds_per_address = max_holds_per_address
        self.max_seats_per_hold = max_seats_per_hold
        self.max_tickets_per_fan = max_tickets_per_fan

    async def hold_seat(
        self, principal: Principal, queue_token: str | None, seat_id: int, *, client_address: str | None = None
    ) -> ReservationOut:
        [held] = await self.hold_seats(principal, queue_token, [seat_id], client_address=client_address)
        return held

    async def hold_seats(
        self,
        principal: Principal,
        queue_token: str | None,
        seat_ids: Sequence[int],
        *,
        client_address: str | None = None,
    ) -> list[ReservationOut]:
        """Hold every seat or none (seats of one date, at most ``max_seats_per_hold``). Seats are
        locked in ascending id order — Redis locks and row locks alike — so two holds of
        overlapping sets wait for each other instead of deadlocking. The answer is in the order
        asked for."""
        wanted = distinct_ids(seat_ids, name="seat_ids", most=self.max_seats_per_hold, error=InvalidSeatSelection)
        await self.refuse_known_taken(principal, queue_token, wanted)
        admitted = await self._waiting_room.require_admitted(queue_token, principal.user_id, holds=self.live_hold_until)
        seats = await self._read_seats(wanted)
        await self._schedules.open_schedule(seats[0].schedule_id, admitted)
        taken = [seat.id for seat in seats if not seat.free]
        if taken:
            # The losers of a race learn it from one read, before any lock; seats that look
            # free are checked again under the locks below.
            raise seats_unavailable(taken)
        return await self._hold(principal, admitted, wanted, list(seat_ids), seats[0].schedule_id, client_address)

    async def refuse_known_taken(self, principal: Principal, queue_token: str | None, seat_ids: Sequence[int]) -> None:
        """SEAT_UNAVAILABLE for a hold of one seat this process saw taken moments ago
        (ScheduleService.known_taken), after exactly the checks a read of the seat list makes
        (a signed token, the queue pass, the date open) and nothing more: most of a race's
        losers are answered this way. Returns, having done no I/O, for any other request.

        Safe before the account check and the hold's rate limits (the caller's order): it
        changes nothing and tells the caller only what the seat list already shows that very
        token (a revoked but unexpired token reads the seat list too); the request is as cheap
        as that read, which is bounded the same way."""
        if len(seat_ids) != 1:
            return
        schedule_id = self._schedules.known_taken(seat_ids[0])
        if schedule_id is None:
            return
        admitted = await self._waiting_room.require_pass(queue_token, principal.user_id, holds=self.live_hold_until)
        await self._schedules.open_schedule(schedule_id, admitted)
        raise seats_unavailable([seat_ids[0]])

    async def hold_best_available(
        self,
        principal: Principal,
        queue_token: str | None,
        schedule_id: int,
        class_name: str,
        quantity: int,
        *,
        client_address: str | None = None,
    ) -> list[ReservationOut]:
        """Hold ``quantity`` seats of the class, side by side in one row when such a block is
        free (else any of the class), all or nothing, through the same hold as seats a fan
        chose (``_hold``: its locks, their order and its caps). A picked seat lost to a racer
        means a new pick without it (at most BEST_AVAILABLE_ATTEMPTS): every lost pick is a
        block another request got, so racers never share a seat and none gives up while a
        block of the class is left within that many. SEAT_UNAVAILABLE: fewer than
        ``quantity`` seats of the class are left."""
        if not 1 <= quantity <= self.max_seats_per_hold:
            raise InvalidSeatSelection(f"quantity takes 1 to {self.max_seats_per_hold} seats")
        admitted = await self._waiting_room.require_admitted(queue_token, principal.user_id, holds=self.live_hold_until)
        await self._schedules.open_schedule(schedule_id, admitted)
        classes = await self._schedules.class_names(schedule_id)
        if class_name not in classes:
            raise InvalidSeatSelection(
                f"class {class_name!r} is not a class of schedule {schedule_id} ({', '.join(classes)})"
            )
        excluded: list[int] = []
        for _ in range(BEST_AVAILABLE_ATTEMPTS):
            picked = await self._schedules.pick_best_available(schedule_id, class_name, quantity, excluded)
            if len(picked) < quantity:
                break
            wanted = sorted(picked)
            try:
                return await self._hold(principal, admitted, wanted, wanted, schedule_id, client_address)
            except SeatUnavailable:
                excluded.extend(picked)
        raise SeatUnavailable(
            f"fewer than {quantity} seats of class {class_name!r} are left; nothing was held",
            unavailable_seat_ids=[],
            reason=SOLD_OUT,
        )

    async def _hold(
        self,
        principal: Principal,
        admitted: AdmittedToken,
        wanted: list[int],
        asked: list[int],
        schedule_id: int,
        client_address: str | None,
    ) -> list[ReservationOut]:
        """Hold the seats ``wanted`` (ascending ids, of one date, checked to exist): the one hold
        of every way a fan asks for seats. The answer is in the order ``asked``. Held, the fan's
        place in the queue is marked chosen (``admitted``: their token)."""
        owners = await self._take_redis_locks(wanted) if self.strategy == "redis+db" else {}
        try:

            async def attempt() -> list[ReservationOut]:
                async with self._uow_factory() as uow:
                    rows = await self._hold_in_transaction(uow, principal, wanted, schedule_id, client_address)
                    await uow.commit()
                self._schedules.invalidate(rows[0].schedule_id)
                by_seat = {row.seat_id: reservation_out(row) for row in rows}
                return [by_seat[seat_id] for seat_id in asked]

            held = await retry_on_conflict(attempt)
        finally:
            await self._release_redis_locks(owners)
        # The fan chose: their place in the queue no longer ends with the choice window.
        await self._waiting_room.chose(admitted)
        return held

    async def _hold_in_transaction(
        self,
        uow: UnitOfWork,
        principal: Principal,
        wanted: list[int],
        schedule_id: int,
        client_address: str | None,
    ) -> list[ReservationRow]:
        """The body of every hold's transaction, in the lock order of the module's docstring:
        the fan's advisory lock and caps, then the seats (ascending), then the reservations."""
        repo = uow.repo(ReservationRepository)
        await self._check_caps(repo, principal.user_id, schedule_id, len(wanted), client_address)
        await repo.expire_lapsed_holds(wanted)
        held: list[SeatRow] = []
        for seat_id in wanted:  # ascending: the shared lock order of seats
            seat = await self._schedules.take_seat(uow, seat_id, self.hold)
            if seat is not None:
                held.append(seat)
        if len(held) < len(wanted):
            raise seats_unavailable(sorted(set(wanted) - {seat.id for seat in held}), TAKEN_UNDER_LOCK)
        return await repo.insert_holds(principal.user_id, held, client_address)

    async def _read_seats(self, seat_ids: list[int]) -> list[SeatRow]:
        seats = await self._schedules.read_seats(seat_ids)
        missing = sorted(set(seat_ids) - {seat.id for seat in seats})
        if missing:
            raise SeatNotFound(f"no such seat: {', '.join(map(str, missing))}", missing_seat_ids=missing)
        if len({seat.schedule_id for seat in seats}) > 1:
            raise InvalidSeatSelection("the seats of one hold must all be of one date (schedule)")
        return seats

    async def _check_caps(
        self, repo: ReservationRepository, user_id: int, schedule_id: int, seats: int, client_address: str | None
    ) -> None:
        """The caps of a hold of ``seats`` seats of one date, in the hold's transaction before any
        seat is locked: every hold of seats, whatever chose them, passes here. Under the fan's
        advisory lock (held to the commit), so concurrent holds of one fan are counted one after
        the other and cannot pass a cap together; one statement counts both of the fan's caps."""
        await repo.lock_user_holds(user_id)
        counted = await repo.count_fan_seats(user_id, schedule_id)
        if not counted.date_open:  # closed by an operator since this process read the date
            raise ScheduleNotOpen("reservations for this date are closed")
        if counted.live_holds + seats > self.max_holds_per_user:
            raise HoldLimitReached(f"at most {self.max_holds_per_user} seats may be held at once")
        taken = counted.held + counted.paid
        if taken + seats > self.max_tickets_per_fan:
            remaining = max(0, self.max_tickets_per_fan - taken)
            raise TicketLimitReached(
                f"one fan may hold and buy at most {self.max_tickets_per_fan} seats of a date; you have "
                f"{counted.held} held and {counted.paid} paid, so {remaining} more; nothing was held",
                max_tickets=self.max_tickets_per_fan,
                remaining=remaining,
            )
        if self.max_holds_per_address and client_address is not None:
            await self._check_address_cap(repo, schedule_id, client_address, seats)

    async def allowance(self, principal: Principal, schedule_id: int) -> Allowance:
        """How many more seats of the date the fan may hold now (shown before choosing): the
        per-fan ticket limit less their held and paid seats of it, and no more than the per-user
        hold cap leaves. A read without the lock: the hold itself decides."""
        await self._schedules.schedule(schedule_id)  # 404 for an unknown date
        async with self._uow_factory(autocommit=True) as uow:
            counted = await uow.repo(ReservationRepository).count_fan_seats(principal.user_id, schedule_id)
        by_limit = self.max_tickets_per_fan - counted.held - counted.paid
        by_cap = self.max_holds_per_user - counted.live_holds
        return Allowance(
            schedule_id=schedule_id,
            max_tickets=self.max_tickets_per_fan,
            held=counted.held,
            paid=counted.paid,
            remaining=max(0, min(by_limit, by_cap)),
        )

    async def _check_address_cap(self, repo: ReservationRepository, schedule_id: int, address: str, seats: int) -> None:
        await repo.lock_address_holds(schedule_id, address)
        if await repo.count_live_holds_from(schedule_id, address) + seats > self.max_holds_per_address:
            raise HoldLimitReached(
                f"at most {self.max_holds_per_address} seats of one date may be held at once from one network "
                "address, whatever the accounts; pay for or release a hold first"
            )

    async def top_holders(self, concert_id: int, limit: int = 10) -> TopHolders:
        """The operators' view of hoarding: the addresses and accounts with the most live holds."""
        schedule_ids = await self._schedules.schedule_ids(concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(ReservationRepository)
            addresses = await repo.top_addresses(schedule_ids, limit)
            accounts = await repo.top_accounts(schedule_ids, limit)
        names = await self._users.names({user_id for user_id, _ in accounts})
        return TopHolders(
            addresses=addresses,
            accounts=[AccountHolds(user_id=u, name=names.get(u, ""), holds=holds) for u, holds in accounts],
        )

    async def _take_redis_locks(self, seat_ids: list[int]) -> dict[int, str]:
        """The seats' Redis locks ({seat: owner value}), taken in the order given (the lock
        order); fail fast (409, the locks taken so far released) when another request holds one.
        With Redis down the database path alone stays correct, so the locks are skipped rather
        than failing."""
        owners: dict[int, str] = {}
        try:
            for seat_id in seat_ids:
                try:
                    owner = await self._seat_locks.acquire(seat_id, SEAT_LOCK_TTL_MS)
                except ServiceUnavailable:
                    log.warning("seat locks skipped: Redis unavailable; the database decides alone")
                    await self._release_redis_locks(owners)
                    return {}
                if owner is None:
                    raise seats_unavailable([seat_id], LOCKED)
                owners[seat_id] = owner
        except BaseException:
            await self._release_redis_locks(owners)
            raise
        return owners

    async def _release_redis_locks(self, owners: dict[int, str]) -> None:
        for seat_id, owner in owners.items():
            await self._release_redis_lock(seat_id, owner)

    async def _release_redis_lock(self, seat_id: int, owner: str) -> None:
        try:
            await self._seat_locks.release(seat_id, owner)
        except ServiceUnavailable:
            log.warning("seat lock not released: Redis unavailable; it expires by itself", extra={"seat": seat_id})

    async def live_hold_until(self, user_id: int, concert_id: int) -> datetime | None:
        """When the user's latest live hold in the concert ends (the waiting room's proof of
        admission for a token of a queue Redis lost); None without one."""
        schedule_ids = await self._schedules.schedule_ids(concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ReservationRepository).live_hold_until(user_id, schedule_ids)

    async def why_not_payable(
        self, uow: UnitOfWork, reservation_id: int, user_id: int, admitted: AdmittedToken
    ) -> Exception:
        """A payment found nothing payable: read the reservation again (latest committed state,
        in the payment's unit of work) to say why, in the order of the checks a fan expects."""
        row = await uow.repo(ReservationRepository).get(reservation_id)
        if row is None:
            return ReservationNotFound()
        schedule = await self._schedules.schedule(row.schedule_id)
        admitted.ensure_concert(schedule.concert_id)
        if row.user_id != user_id:
            return ReservationUserMismatch()
        if row.lapsed:
            return ReservationExpired()
        return ReservationNotHeld()  # paid, cancelled, or expired and released by the sweeper

    # Used by the payments domain, in the refund's unit of work.
    @staticmethod
    async def lock_fan(uow: UnitOfWork, user_id: int) -> None:
        """The fan's advisory lock (the one a hold takes first), held to the end of ``uow``: a
        refund takes it before its payment's row lock (fan -> payment -> ... -> wallet), so a
        fan's refunds are counted one after the other."""
        await uow.repo(ReservationRepository).lock_user_holds(user_id)

    @staticmethod
    async def count_refunds(uow: UnitOfWork, user_id: int, schedule_id: int) -> int:
        """The fan's refunded reservations of one date (its latest committed state)."""
        return await uow.repo(ReservationRepository).count_refunds(user_id, schedule_id)

    @staticmethod
    async def refund(uow: UnitOfWork, reservation_id: int) -> int:
        """Mark a paid (CONFIRMED) reservation REFUNDED; returns its seat's id. The caller puts
        the seat back on sale in the same transaction."""
        seat_id = await uow.repo(ReservationRepository).refund(reservation_id)
        if seat_id is None:  # a PAID payment's reservation is CONFIRMED (bench invariants)
            raise RuntimeError(f"reservation {reservation_id} of a paid payment is not CONFIRMED")
        return seat_id

    async def get_reservation(self, principal: Principal, reservation_id: int) -> ReservationOut:
        async with self._uow_factory(autocommit=True) as uow:
            row = await uow.repo(ReservationRepository).get(reservation_id)
        return reservation_out(self._owned(row, principal))

    async def list_reservations(self, principal: Principal, cursor: str | None, limit: int) -> ReservationPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await uow.repo(ReservationRepository).page_of_user(principal.user_id, before, limit + 1)
        return ReservationPage(
            items=[reservation_out(r) for r in rows[:limit]], next_cursor=next_cursor([r.id for r in rows], limit)
        )

    async def release(self, principal: Principal, reservation_id: int) -> None:
        async def attempt() -> int:
            async with self._uow_factory() as uow:
                repo = uow.repo(ReservationRepository)
                row = self._owned(await repo.get(reservation_id, for_update=True), principal)
                if row.status != "HELD" or row.lapsed:
                    raise ReservationNotHeld()
                await repo.cancel(row.id)
                await self._schedules.free_seats(uow, [row.seat_id])
                await uow.commit()
            return row.schedule_id

        self._schedules.invalidate(await retry_on_conflict(attempt))

    async def expire_lapsed(self, batch: int = 500) -> int:
        """The sweeper: one batch per call, safe in many processes at once (SKIP LOCKED)."""
        async with self._uow_factory() as uow:
            expired = await uow.repo(ReservationRepository).expire_lapsed_batch(batch)
            await self._schedules.free_seats(uow, [e.seat_id for e in expired], lapsed_only=True)
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

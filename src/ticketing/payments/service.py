"""Payment of a held seat (seed flow 8).

One statement (``PaymentRepository.settle``) locks reservation -> seat -> wallet in the shared
order, debits the wallet if it covers the price and, only then, confirms the reservation, sells
the seat and writes the payment and its ledger row. Without an Idempotency-Key that statement is
its own transaction, so its row locks are held for one statement and its commit; with a key, the
key's row and the stored response join it in one transaction. Of racing payers, and of a payer
racing the expiry sweeper, exactly one wins; the others find nothing payable and learn why from
a re-read. After commit the fan's queue token is finished (their place goes to the next fan)
and, when the concert has no unsold seat left, the waiting room stops admitting.
"""

from __future__ import annotations

import msgspec

from ticketing.core.locking import retry_on_conflict
from ticketing.core.pagination import decode_cursor, next_cursor
from ticketing.core.security import Principal
from ticketing.core.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply
from ticketing.payments.repository import PaymentRepository, Settlement
from ticketing.payments.schemas import PaymentPage
from ticketing.reservations.errors import (
    ReservationExpired,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
)
from ticketing.reservations.repository import ReservationRepository
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.errors import TokenInvalid
from ticketing.waiting_room.service import AdmittedToken, WaitingRoomService
from ticketing.wallets.service import WalletService


class PaymentService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        idempotency: IdempotencyService,
        waiting_room: WaitingRoomService,
        schedules: ScheduleService,
        wallets: WalletService,
    ) -> None:
        self._uow_factory = uow_factory
        self._idempotency = idempotency
        self._waiting_room = waiting_room
        self._schedules = schedules
        self._wallets = wallets

    async def pay(
        self,
        principal: Principal,
        queue_token: str | None,
        reservation_id: int,
        idempotency: IdempotentRequest | None,
    ) -> StoredReply:
        replay = await self._idempotency.replay(idempotency)
        if replay is not None:
            return replay  # as it was, even if the queue token has finished since
        try:
            admitted = await self._waiting_room.require_admitted(queue_token, principal.user_id)
        except TokenInvalid:
            # A twin sent with the same key may have paid, and finished the token, since our
            # replay looked: its answer is committed before the token is finished, so a second
            # look finds it. A client retrying a lost answer learns that it paid.
            replay = await self._idempotency.replay(idempotency)
            if replay is not None:
                return replay
            raise

        async def attempt() -> tuple[StoredReply, Settlement | None]:
            async with self._uow_factory(autocommit=idempotency is None) as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored, None
                settled = await PaymentRepository(uow.conn).settle(
                    reservation_id, principal.user_id, admitted.concert_id
                )
                if settled is None:
                    raise await self._why_not_payable(uow, reservation_id, principal.user_id, admitted)
                if settled.payment is None:
                    raise await self._wallets.why_not_debited(uow, principal.user_id, settled.price)
                reply = StoredReply(201, msgspec.json.encode(settled.payment))
                if idempotency is not None:
                    await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                    await uow.commit()
            return reply, settled

        reply, settled = await retry_on_conflict(attempt)
        if settled is not None:
            await self._after_payment(admitted, settled)
        return reply

    async def _why_not_payable(
        self, uow: UnitOfWork, reservation_id: int, user_id: int, admitted: AdmittedToken
    ) -> Exception:
        """Nothing was payable: read the reservation again (latest committed state) to say why,
        in the order of the checks a fan would expect."""
        repo = ReservationRepository(uow.conn)
        row = await repo.get(reservation_id)
        if row is None:
            return ReservationNotFound()
        schedule = await self._schedules.schedule(row.schedule_id)
        admitted.ensure_concert(schedule.concert_id)
        if row.user_id != user_id:
            return ReservationUserMismatch()
        if row.lapsed:
            return ReservationExpired()
        return ReservationNotHeld()  # paid, cancelled, or expired and released by the sweeper

    async def _after_payment(self, admitted: AdmittedToken, settled: Settlement) -> None:
        self._schedules.invalidate(settled.schedule_id)
        await self._waiting_room.finish(admitted)
        # The exact check (after our commit, so it sees every sale committed before ours), only
        # when this payment saw every other seat sold: that spares every other payment a round
        # trip. The last two payments committing at once each see the other's seat unsold: the
        # waiting room's sold-out job catches that within a second.
        if settled.last_unsold_seat and await self._schedules.concert_sold_out(admitted.concert_id):
            await self._waiting_room.mark_sold_out(admitted.concert_id)

    async def list_payments(self, principal: Principal, cursor: str | None, limit: int) -> PaymentPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await PaymentRepository(uow.conn).page_of_user(principal.user_id, before, limit + 1)
        return PaymentPage(items=rows[:limit], next_cursor=next_cursor([r.id for r in rows], limit))

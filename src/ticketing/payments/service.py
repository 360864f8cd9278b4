"""Payment of a held seat (seed flow 8).

One transaction, locks in the shared order reservation -> seat -> wallet:
1. an optimistic confirm of the reservation (``UPDATE ... WHERE version = read version AND
   status = 'HELD' AND held_until > now()``) and, in the same statement, the seat becomes SOLD:
   of racing payers, and of a payer racing the expiry sweeper, exactly one wins; the others see
   0 rows and learn why from a re-read;
2. the payment row (UNIQUE per reservation);
3. the wallet is debited by an UPDATE that X-locks it and checks the balance on the latest
   version, and the PAYMENT ledger row is written — one statement;
4. the stored Idempotency-Key response.
After commit the fan's queue token is finished (their place goes to the next fan) and, when the
concert has no unsold seat left, the waiting room stops admitting.
"""

from __future__ import annotations

import msgspec

from ticketing.core.locking import retry_on_conflict
from ticketing.core.pagination import decode_cursor, next_cursor
from ticketing.core.security import Principal
from ticketing.core.uow import UnitOfWorkFactory
from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply
from ticketing.payments.repository import PaymentRepository
from ticketing.payments.schemas import PaymentPage
from ticketing.reservations.errors import (
    ReservationExpired,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
)
from ticketing.reservations.repository import ReservationRepository
from ticketing.schedules.service import ScheduleService
from ticketing.waiting_room.service import WaitingRoomService
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
        admitted = await self._waiting_room.require_admitted(queue_token, principal.user_id)

        async def attempt() -> tuple[StoredReply, int | None]:
            async with self._uow_factory() as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored, None
                reservations = ReservationRepository(uow.conn)
                row = await reservations.get(reservation_id)
                if row is None:
                    raise ReservationNotFound()
                schedule = await self._schedules.schedule(row.schedule_id)
                admitted.ensure_concert(schedule.concert_id)
                if row.user_id != principal.user_id:
                    raise ReservationUserMismatch()
                if row.status != "HELD":
                    raise ReservationNotHeld()
                if not await reservations.confirm_and_sell(row):
                    raise await self._why_not_confirmed(reservation_id)
                payment = await PaymentRepository(uow.conn).add(row.id, principal.user_id, row.price)
                await self._wallets.debit_for_payment(uow, principal.user_id, row.price, payment.id)
                reply = StoredReply(201, msgspec.json.encode(payment))
                await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                await uow.commit()
            return reply, row.schedule_id

        reply, schedule_id = await retry_on_conflict(attempt)
        if schedule_id is not None:
            await self._after_payment(admitted.token, admitted.concert_id, schedule_id)
        return reply

    async def _why_not_confirmed(self, reservation_id: int) -> Exception:
        """The optimistic confirm lost: read the reservation again (committed state) to say why."""
        async with self._uow_factory(autocommit=True) as uow:
            repo = ReservationRepository(uow.conn)
            now = await repo.now()
            row = await repo.get(reservation_id)
        if row is not None and row.status == "HELD" and row.held_until <= now:
            return ReservationExpired()
        return ReservationNotHeld()  # paid, cancelled, or expired and released by the sweeper

    async def _after_payment(self, queue_token: str, concert_id: int, schedule_id: int) -> None:
        self._schedules.invalidate(schedule_id)
        await self._waiting_room.finish(queue_token)
        if await self._schedules.concert_sold_out(concert_id):
            await self._waiting_room.mark_sold_out(concert_id)

    async def list_payments(self, principal: Principal, cursor: str | None, limit: int) -> PaymentPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await PaymentRepository(uow.conn).page_of_user(principal.user_id, before, limit + 1)
        return PaymentPage(items=rows[:limit], next_cursor=next_cursor([r.id for r in rows], limit))

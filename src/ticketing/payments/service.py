"""Payment of a held seat.

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

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import structlog

from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply
from ticketing.kernel.errors import ServiceUnavailable
from ticketing.kernel.ids import distinct_ids
from ticketing.kernel.locking import retry_on_conflict
from ticketing.kernel.pagination import decode_cursor, next_cursor
from ticketing.kernel.security import Principal
from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.payments.errors import (
    PaymentAlreadyRefunded,
    PaymentNotFound,
    PaymentUserMismatch,
    RefundLimitReached,
    RefundWindowClosed,
)
from ticketing.payments.repository import PaymentRepository, Settlement
from ticketing.payments.schemas import MAX_SALES_POINTS, OrderLine, PaymentList, PaymentPage, SalesTimeline
from ticketing.reservations.service import ReservationService
from ticketing.schedules.service import ScheduleService
from ticketing.tickets.schemas import TicketRow
from ticketing.tickets.service import TicketService
from ticketing.waiting_room.errors import TokenInvalid
from ticketing.waiting_room.service import AdmittedToken, WaitingRoomService
from ticketing.wallets.service import WalletService

log = structlog.get_logger("ticketing.payments")

# Bucket widths a sales chart reads easily (1 s ... 1 week); the narrowest that keeps the sale
# within MAX_SALES_POINTS buckets is used, wider multiples of a week beyond that.
SALES_BUCKET_SECONDS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def sales_bucket_seconds(span_seconds: float) -> int:
    for bucket in SALES_BUCKET_SECONDS:
        if span_seconds < bucket * MAX_SALES_POINTS:
            return bucket
    week = SALES_BUCKET_SECONDS[-1]
    return week * (int(span_seconds // (week * MAX_SALES_POINTS)) + 1)


class PaymentService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        idempotency: IdempotencyService,
        waiting_room: WaitingRoomService,
        schedules: ScheduleService,
        reservations: ReservationService,
        wallets: WalletService,
        tickets: TicketService,
        *,
        max_reservations: int = 4,
        refund_cutoff_hours: int = 24,
        max_refunds_per_fan_per_date: int = 2,
    ) -> None:
        self._uow_factory = uow_factory
        self._idempotency = idempotency
        self._waiting_room = waiting_room
        self._schedules = schedules
        self._reservations = reservations
        self._wallets = wallets
        self.max_reservations = max_reservations
        self._tickets = tickets
        self.refund_cutoff = timedelta(hours=refund_cutoff_hours)
        self.max_refunds_per_fan_per_date = max_refunds_per_fan_per_date

    async def pay(
        self,
        principal: Principal,
        queue_token: str | None,
        reservation_ids: Sequence[int],
        idempotency: IdempotentRequest | None,
        *,
        several: bool = False,
    ) -> StoredReply:
        """Pay the reservations, all or none. ``several``: the answer is ``{items: [...]}`` (the
        request named ``reservation_ids``), else the one payment."""
        wanted = distinct_ids(reservation_ids, name="reservation_ids", most=self.max_reservations)
        replay = await self._idempotency.replay(idempotency)
        if replay is not None:
            return replay  # as it was, even if the queue token has finished since
        try:
            admitted = await self._waiting_room.require_admitted(
                queue_token, principal.user_id, holds=self._reservations.live_hold_until
            )
        except TokenInvalid:
            # A twin sent with the same key may have paid, and finished the token, since our
            # replay looked: its answer is committed before the token is finished, so a second
            # look finds it. A client retrying a lost answer learns that it paid.
            replay = await self._idempotency.replay(idempotency)
            if replay is not None:
                return replay
            raise

        async def attempt() -> tuple[StoredReply, Settlement | None]:
            # Without a key the one statement is its own transaction (its row locks last one
            # statement); with a key, the key's row and stored answer join it in one transaction.
            async with self._uow_factory(autocommit=idempotency is None) as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored, None
                settled = await uow.repo(PaymentRepository).settle(wanted, principal.user_id, admitted.concert_id)
                if len(settled.reservation_ids) < len(wanted):
                    missing = next(r for r in reservation_ids if r not in settled.reservation_ids)
                    raise await self._reservations.why_not_payable(uow, missing, principal.user_id, admitted)
                if not settled.payments:
                    raise await self._wallets.why_not_debited(uow, principal.user_id, settled.price)
                by_reservation = {payment.reservation_id: payment for payment in settled.payments}
                payments = [by_reservation[r] for r in reservation_ids]
                body = msgspec.json.encode(PaymentList(items=payments) if several else payments[0])
                reply = StoredReply(201, body)
                if idempotency is not None:
                    await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                    await uow.commit()
            return reply, settled

        reply, settled = await retry_on_conflict(attempt)
        if settled is not None:
            await self._after_payment(admitted, settled)
        return reply

    async def _after_payment(self, admitted: AdmittedToken, settled: Settlement) -> None:
        for schedule_id in settled.schedule_ids:
            self._schedules.invalidate(schedule_id)
        await self._waiting_room.finish(admitted)
        # The exact check (after our commit, so it sees every sale committed before ours), only
        # when this payment saw every other seat sold: that spares every other payment a round
        # trip. The last two payments committing at once each see the other's seat unsold: the
        # waiting room's sold-out job catches that within a second.
        if settled.last_unsold_seats and await self._schedules.concert_sold_out(admitted.concert_id):
            await self._waiting_room.mark_sold_out(admitted.concert_id)

    async def list_payments(self, principal: Principal, cursor: str | None, limit: int) -> PaymentPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await uow.repo(PaymentRepository).page_of_user(principal.user_id, before, limit + 1)
        return PaymentPage(items=rows[:limit], next_cursor=next_cursor([r.id for r in rows], limit))

    # -- the operator's reports ---------------------------------------------------------------------

    async def sales_timeline(self, concert_id: int, schedule_id: int | None) -> SalesTimeline:
        """Payments over time (the caller checked the concert and the date)."""
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(PaymentRepository)
            span = await repo.paid_between(concert_id, schedule_id)
            if span is None:
                return SalesTimeline(bucket_seconds=SALES_BUCKET_SECONDS[0], points=[])
            bucket = sales_bucket_seconds((span[1] - span[0]).total_seconds())
            return SalesTimeline(
                bucket_seconds=bucket, points=await repo.sales_per_bucket(concert_id, schedule_id, bucket)
            )

    async def order_lines(
        self, concert_id: int, schedule_id: int | None, after_payment_id: int, limit: int
    ) -> list[OrderLine]:
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(PaymentRepository).order_lines(concert_id, schedule_id, after_payment_id, limit)

    # -- refunds ---------------------------------------------------------------------------------

    async def refund(self, principal: Principal, payment_id: int, idempotency: IdempotentRequest | None) -> StoredReply:
        """Give a payment back (docs/api.md), in ONE transaction, locks in the order
        fan -> payment -> ticket -> reservation -> seat -> wallet: the fan's advisory lock (the
        one a hold takes first; the fan's refunds of a date are counted one after the other), the
        payment row locked (a second refund waits, then finds it REFUNDED: exactly one credit),
        the ticket voided by a conditional write (a racing check-in and this refund: exactly one
        wins), the cut-off checked, the fan's refunds of the date counted
        (TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE), the reservation REFUNDED, the seat on sale
        again, the wallet credited with a REFUND ledger row, the payment REFUNDED. After commit the
        seat caches are dropped and a sold-out waiting room reopens. With an Idempotency-Key, its
        stored answer commits with the refund (as a payment's does)."""
        tickets = self._tickets
        replay = await self._idempotency.replay(idempotency)
        if replay is not None:
            return replay

        async def attempt() -> tuple[StoredReply, TicketRow | None]:
            async with self._uow_factory() as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored, None
                # The caller's own lock, whoever owns the payment: taken before anything is read,
                # so the refunds counted below include every committed one of this fan.
                await self._reservations.lock_fan(uow, principal.user_id)
                payments = uow.repo(PaymentRepository)
                payment = await payments.lock(payment_id)
                if payment is None:
                    raise PaymentNotFound()
                if payment.user_id != principal.user_id:
                    raise PaymentUserMismatch()
                if payment.status == "REFUNDED":
                    raise PaymentAlreadyRefunded()
                ticket = await tickets.void_for_refund(uow, payment.id)  # TICKET_ALREADY_USED once checked in
                schedule = await self._schedules.schedule(ticket.schedule_id, uow)
                closes_at = schedule.starts_at - self.refund_cutoff
                if datetime.now(UTC) >= closes_at:
                    raise RefundWindowClosed(
                        f"refunds of this date closed at {closes_at.isoformat()}, "
                        f"{self.refund_cutoff.total_seconds() / 3600:g} hours before it starts",
                        refunds_closed_at=closes_at,
                    )
                await self._check_refund_limit(uow, principal.user_id, ticket.schedule_id)
                seat_id = await self._reservations.refund(uow, payment.reservation_id)
                await self._schedules.resell_seats(uow, [seat_id])
                await self._wallets.credit_refund(uow, payment.user_id, payment.amount, payment.id)
                refunded = await payments.mark_refunded(payment.id)
                reply = StoredReply(200, msgspec.json.encode(refunded))
                await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                await uow.commit()
            return reply, ticket

        reply, ticket = await retry_on_conflict(attempt)
        if ticket is not None:
            await self._after_refund(ticket)
        return reply

    async def _check_refund_limit(self, uow: UnitOfWork, user_id: int, schedule_id: int) -> None:
        refunded = await self._reservations.count_refunds(uow, user_id, schedule_id)
        if refunded >= self.max_refunds_per_fan_per_date:
            limit = self.max_refunds_per_fan_per_date
            raise RefundLimitReached(
                f"one fan may refund at most {limit} payment{'s' if limit != 1 else ''} of a date; "
                f"you refunded {refunded}; nothing was changed",
                max_refunds=limit,
            )

    async def _after_refund(self, ticket: TicketRow) -> None:
        self._schedules.invalidate(ticket.schedule_id)
        # The refund is committed: a Redis failure now must not turn its answer into an error. The
        # sold-out job reopens the queue within a second once Redis answers (waiting_room/jobs.py).
        try:
            await self._waiting_room.clear_sold_out(ticket.concert_id)
        except ServiceUnavailable:
            log.warning("sold-out flag not cleared after a refund: Redis unavailable", concert=ticket.concert_id)

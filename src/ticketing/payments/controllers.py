from __future__ import annotations

from litestar import Controller, get, post

from ticketing.container import services
from ticketing.edge.auth import AuthedRequest, account_checks
from ticketing.edge.openapi import body_of, error_responses
from ticketing.edge.pagination import CursorParam, LimitParam
from ticketing.edge.params import IdempotencyKeyHeader, PathId, QueueTokenHeader, idempotent_post
from ticketing.edge.responses import JsonBytes
from ticketing.kernel.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from ticketing.kernel.pagination import DEFAULT_LIMIT
from ticketing.payments.errors import (
    PaymentAlreadyRefunded,
    PaymentNotFound,
    PaymentUserMismatch,
    RefundLimitReached,
    RefundWindowClosed,
)
from ticketing.payments.schemas import PaymentIn, PaymentList, PaymentOut, PaymentPage, RefundOut
from ticketing.reservations.errors import (
    ReservationExpired,
    ReservationNotFound,
    ReservationNotHeld,
    ReservationUserMismatch,
)
from ticketing.tickets.errors import TicketAlreadyUsed
from ticketing.wallets.errors import InsufficientBalance


class PaymentController(Controller):
    path = "/api/v1/payments"
    tags = ["payments"]
    before_request = staticmethod(account_checks)

    @post(
        "/",
        status_code=201,
        before_request=account_checks,
        responses={
            201: body_of(PaymentOut | PaymentList, "Paid: the payment, or {items} for reservation_ids"),
            **error_responses(
                ReservationNotFound,
                ReservationUserMismatch,
                ReservationExpired,
                ReservationNotHeld,
                InsufficientBalance,
                IdempotencyKeyReused,
                IdempotencyKeyInUse,
            ),
        },
        summary="Pay for a held seat from the wallet; send an Idempotency-Key to retry safely",
    )
    async def pay(
        self,
        data: PaymentIn,
        request: AuthedRequest,
        x_queue_token: QueueTokenHeader = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JsonBytes:
        idem = idempotent_post(request, idempotency_key, data)
        reply = await services(request).payments.pay(request.user, x_queue_token, data.ids, idem, several=data.several)
        return JsonBytes(reply.body, reply.status_code)

    @get("/", summary="Your payments, newest first")
    async def list_payments(
        self,
        request: AuthedRequest,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> PaymentPage:
        return await services(request).payments.list_payments(request.user, cursor, limit)

    @post(
        "/{payment_id:str}/refund",
        status_code=200,
        before_request=account_checks,
        responses={
            200: body_of(RefundOut, "Refunded: the wallet credited (ledger kind REFUND), the seat on sale again"),
            **error_responses(
                PaymentNotFound,
                PaymentUserMismatch,
                PaymentAlreadyRefunded,
                RefundWindowClosed,
                RefundLimitReached,
                TicketAlreadyUsed,
                IdempotencyKeyReused,
                IdempotencyKeyInUse,
            ),
        },
        summary="Refund one of your payments until TICKETING_REFUND_CUTOFF_HOURS before the date starts; "
        "send an Idempotency-Key to retry safely",
        description="A fan refunds at most TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE payments of one date "
        "(409 REFUND_LIMIT_REACHED after).",
    )
    async def refund(
        self, payment_id: PathId, request: AuthedRequest, idempotency_key: IdempotencyKeyHeader = None
    ) -> JsonBytes:
        idem = idempotent_post(request, idempotency_key)
        reply = await services(request).payments.refund(request.user, payment_id, idem)
        return JsonBytes(reply.body, reply.status_code)

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from ticketing.kernel.ids import MAX_ID
from ticketing.kernel.jsonschema import exactly_one_of

ReservationId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
MAX_RESERVATIONS_PER_REQUEST = 20  # what a request may name; TICKETING_MAX_HOLDS_PER_USER is what is paid


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """One reservation (``reservation_id``, answered with the payment) or several (``reservation_ids``,
    answered with ``{items}``, all or nothing): exactly one of the two."""

    __openapi_extra__: ClassVar[dict[str, Any]] = exactly_one_of("reservation_id", "reservation_ids")
    reservation_id: ReservationId | None = None
    reservation_ids: (
        Annotated[list[ReservationId], msgspec.Meta(min_length=1, max_length=MAX_RESERVATIONS_PER_REQUEST)] | None
    ) = None

    def __post_init__(self) -> None:  # a ValueError here is a msgspec.ValidationError: 422
        if (self.reservation_id is None) == (self.reservation_ids is None):
            raise ValueError("send exactly one of reservation_id and reservation_ids")

    @property
    def several(self) -> bool:
        return self.reservation_ids is not None

    @property
    def ids(self) -> list[int]:
        return self.reservation_ids if self.reservation_ids is not None else [self.reservation_id or 0]


# REFUNDED: POST /payments/{id}/refund gave the amount back (ledger kind REFUND).
PaymentStatus = Literal["PAID", "REFUNDED"]


class PaymentOut(msgspec.Struct):
    id: int
    reservation_id: int
    user_id: int
    amount: int
    paid_at: datetime
    status: PaymentStatus


class RefundOut(msgspec.Struct):
    """A refunded payment: the payment object with ``status: REFUNDED`` and when."""

    id: int
    reservation_id: int
    user_id: int
    amount: int
    paid_at: datetime
    status: Literal["REFUNDED"]
    refunded_at: datetime


class PaymentList(msgspec.Struct):
    """The payments of one request that paid several reservations, in the order asked for."""

    items: list[PaymentOut]


class PaymentPage(msgspec.Struct):
    items: list[PaymentOut]
    next_cursor: str | None


class SalesPoint(msgspec.Struct):
    """Payments made in one bucket of time starting ``at`` (a later refund does not take them
    back here: the per-date figures show what is sold now)."""

    at: datetime
    tickets: int
    revenue: int


class SalesTimeline(msgspec.Struct):
    """A concert's payments over time, in buckets of ``bucket_seconds`` (chosen so that a sale of
    any length gives at most ``MAX_SALES_POINTS`` points); only buckets with payments are listed."""

    bucket_seconds: int
    points: list[SalesPoint]


MAX_SALES_POINTS = 120


class OrderLine(msgspec.Struct):
    """One paid seat, as the orders CSV lists it."""

    payment_id: int
    paid_at: datetime
    status: str
    refunded_at: datetime | None
    amount: int
    user_id: int
    user_name: str
    schedule_id: int
    starts_at: datetime
    zone: str
    row: str
    seat: str
    class_: str

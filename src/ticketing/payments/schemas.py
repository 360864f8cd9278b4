from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from ticketing.core.params import MAX_ID


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    reservation_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class PaymentOut(msgspec.Struct):
    id: int
    reservation_id: int
    user_id: int
    amount: int
    paid_at: datetime


class PaymentPage(msgspec.Struct):
    items: list[PaymentOut]
    next_cursor: str | None

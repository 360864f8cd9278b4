from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


class ChargeIn(msgspec.Struct, forbid_unknown_fields=True):
    # Range and type are checked by the service so that every bad amount answers INVALID_AMOUNT
    # (msgspec would already refuse "100", true and 1.5 as non-integers).
    amount: object


class WalletOut(msgspec.Struct):
    wallet_id: int
    user_id: int
    balance: int
    updated_at: datetime


class LedgerEntryOut(msgspec.Struct):
    id: int
    kind: Literal["CHARGE", "PAYMENT", "REFUND"]
    amount: int
    balance_after: int
    created_at: datetime


class LedgerPage(msgspec.Struct):
    items: list[LedgerEntryOut]
    next_cursor: str | None

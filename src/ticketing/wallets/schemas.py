from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from ticketing.kernel.jsonschema import setting_bound


class ChargeIn(msgspec.Struct, forbid_unknown_fields=True):
    # Range and type are checked by the service so that every bad amount answers INVALID_AMOUNT
    # (msgspec would already refuse "100", true and 1.5 as non-integers). The OpenAPI document
    # states the rule, with the deployment's TICKETING_MAX_CHARGE as its maximum.
    amount: Annotated[
        object,
        msgspec.Meta(
            description="Won to add: an integer from 1 to TICKETING_MAX_CHARGE (else 422 INVALID_AMOUNT)",
            extra_json_schema={"type": "integer", "minimum": 1},
            extra=setting_bound(maximum="max_charge"),
        ),
    ]


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

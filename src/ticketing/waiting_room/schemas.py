from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

TokenStatus = Literal["WAITING", "ACTIVE", "DONE", "EXPIRED", "SOLD_OUT"]


class QueueTokenOut(msgspec.Struct):
    token: str
    concert_id: int
    user_id: int
    status: TokenStatus
    position: int | None
    eta_seconds: int | None
    expires_at: datetime
    poll_after_ms: int


class TokenUser(msgspec.Struct):
    id: int
    name: str


class QueueTokenInfoOut(msgspec.Struct):
    token: str
    concert_id: int
    user: TokenUser
    status: TokenStatus
    position: int | None
    eta_seconds: int | None
    expires_at: datetime
    remaining_seconds: int
    poll_after_ms: int


class QueueStats(msgspec.Struct):
    concert_id: int
    waiting: int
    active: int
    admitted_last_minute: int
    admission_rate_per_second: float
    sold_out: bool

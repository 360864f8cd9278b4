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
    # Fair start (additive to API.md): the sale's opening when the queue has a pre-queue (null: a
    # plain first-come queue), and whether the token waits for the draw at that opening, in which
    # case ``position`` is the pre-queue's size (the worst place the draw can give).
    sale_opens_at: datetime | None = None
    pre_queue: bool = False


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
    sale_opens_at: datetime | None = None  # as in QueueTokenOut
    pre_queue: bool = False


class QueueStats(msgspec.Struct):
    concert_id: int
    waiting: int
    active: int
    admitted_last_minute: int
    admission_rate_per_second: float
    sold_out: bool

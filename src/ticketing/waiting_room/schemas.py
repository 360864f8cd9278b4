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
    # Fair start (additive to docs/api.md): the sale's opening when the queue has a pre-queue (null: a
    # plain first-come queue), and whether the token waits for the draw at that opening, in which
    # case ``position`` is the pre-queue's size (the worst place the draw can give).
    sale_opens_at: datetime | None = None
    pre_queue: bool = False
    # The token's arrival number in its queue: with the draw's revealed key, the fan recomputes
    # their own rank (docs/fair-draw.md).
    arrival_number: int | None = None


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
    arrival_number: int | None = None  # as in QueueTokenOut
    # The operator paused the sale (additive): nobody is admitted until resumed; places are kept.
    paused: bool = False


class QueueStats(msgspec.Struct):
    concert_id: int
    waiting: int
    active: int
    admitted_last_minute: int
    admission_rate_per_second: float
    sold_out: bool
    paused: bool = False  # the operator paused the sale: nobody is admitted until resumed


class QueueSample(msgspec.Struct):
    """The queue at one moment: fans waiting, admitted fans choosing, and the admission rate over
    the 10 s before."""

    at: datetime
    waiting: int
    active: int
    admission_rate_per_second: float


DrawStatus = Literal["NONE", "COMMITTED", "DRAWN"]


class DrawOut(msgspec.Struct):
    """A concert's fair-start draw, for anyone to check (docs/fair-draw.md). ``NONE``: the queue
    has no pre-queue (a plain first-come queue, or nobody joined before the opening);
    ``COMMITTED``: fans are joining the pre-queue, the key is fixed and only its SHA-256
    (``commitment``) is shown; ``DRAWN``: the opening came, ``key`` is revealed and
    ``pre_queue_size`` fans (arrival numbers 1..size) were ranked under it."""

    concert_id: int
    status: DrawStatus
    sale_opens_at: datetime | None
    commitment: str | None
    key: str | None
    pre_queue_size: int | None
    algorithm: str = "feistel-sha1-4r/v1"
    commitment_algorithm: str = "sha256(key)"

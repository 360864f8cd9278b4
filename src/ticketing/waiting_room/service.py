"""The waiting room (seed flows 3 and 4): fair FIFO queue per concert, admission control, live
position and ETA, and the guard of every seat and payment endpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ticketing.concerts.service import ConcertService
from ticketing.config import Settings
from ticketing.core.security import Principal
from ticketing.waiting_room.errors import TokenForbidden, TokenInvalid, TokenNotAdmitted
from ticketing.waiting_room.schemas import QueueStats, QueueTokenInfoOut, QueueTokenOut, TokenUser
from ticketing.waiting_room.store import QueueStore, TokenView, concert_of

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class AdmittedToken:
    token: str
    concert_id: int
    user_id: int
    expires_at: datetime

    def ensure_concert(self, concert_id: int) -> None:
        if concert_id != self.concert_id:
            raise TokenForbidden("This queue token was issued for another concert")


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class WaitingRoomService:
    def __init__(
        self, store: QueueStore, concerts: ConcertService, settings: Settings, clock: Clock = time.time
    ) -> None:
        self.store = store
        self._concerts = concerts
        self.settings = settings
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def _grace_ms(self) -> int:
        return self.settings.queue_waiting_grace_seconds * 1000

    @property
    def _retain_ms(self) -> int:
        return self.settings.queue_retain_finished_seconds * 1000

    def _eta_seconds(self, view: TokenView) -> int | None:
        if view.position is None:
            return None
        # The rate actually achieved over the last 10 s; before any admission, the configured one.
        achieved = view.admitted_last_10s / 10
        rate = achieved if achieved > 0 else float(self.settings.queue_admit_per_second)
        return math.ceil(view.position / rate)

    async def issue_token(self, principal: Principal, concert_id: int) -> tuple[QueueTokenOut, bool]:
        await self._concerts.ensure_exists(concert_id)
        view = await self.store.issue(
            concert_id, principal.user_id, principal.name, self._now_ms(), self._grace_ms, self._retain_ms
        )
        out = QueueTokenOut(
            token=view.token,
            concert_id=concert_id,
            user_id=view.user_id,
            status=view.status,  # type: ignore[arg-type]
            position=view.position,
            eta_seconds=self._eta_seconds(view),
            expires_at=_at(view.deadline_ms),
        )
        return out, view.created

    async def token_info(self, token: str | None) -> QueueTokenInfoOut:
        if not token:
            raise TokenInvalid("The X-Queue-Token header is required")
        now = self._now_ms()
        view = await self.store.info(token, now, self._grace_ms, self._retain_ms)
        concert_id = concert_of(token)
        if view is None or concert_id is None:
            raise TokenInvalid("Unknown or no longer retained queue token")
        return QueueTokenInfoOut(
            token=view.token,
            concert_id=concert_id,
            user=TokenUser(id=view.user_id, name=view.name),
            status=view.status,  # type: ignore[arg-type]
            position=view.position,
            eta_seconds=self._eta_seconds(view),
            expires_at=_at(view.deadline_ms),
            remaining_seconds=max(0, (view.deadline_ms - now) // 1000) if view.status in ("WAITING", "ACTIVE") else 0,
        )

    async def require_admitted(self, token: str | None, user_id: int) -> AdmittedToken:
        """The guard of the seat and payment endpoints: one Redis round trip."""
        if not token:
            raise TokenInvalid("The X-Queue-Token header is required")
        peek = await self.store.peek(token)
        concert_id = concert_of(token)
        if peek is None or concert_id is None:
            raise TokenInvalid("Unknown or expired queue token")
        if peek.user_id != user_id:
            raise TokenForbidden("This queue token belongs to another user")
        if peek.status == "WAITING":
            raise TokenNotAdmitted()
        if peek.status != "ACTIVE" or peek.deadline_ms <= self._now_ms():
            raise TokenInvalid("This queue token has expired or is finished")
        return AdmittedToken(token=token, concert_id=concert_id, user_id=user_id, expires_at=_at(peek.deadline_ms))

    async def finish(self, token: str) -> None:
        await self.store.finish(token, self._retain_ms)

    async def mark_sold_out(self, concert_id: int) -> None:
        await self.store.set_sold_out(concert_id, True)

    async def clear_sold_out(self, concert_id: int) -> None:
        await self.store.set_sold_out(concert_id, False)

    async def admit(self, concert_id: int | None = None, *, batch: int = 10_000) -> int:
        """One admission tick for one concert, or for every concert with a queue."""
        concerts = [concert_id] if concert_id is not None else await self.store.concerts()
        admitted = 0
        for cid in concerts:
            tick = await self.store.admit(
                cid,
                self._now_ms(),
                max_active=self.settings.queue_max_active,
                rate=self.settings.queue_admit_per_second,
                ttl_ms=self.settings.queue_active_ttl_seconds * 1000,
                grace_ms=self._grace_ms,
                retain_ms=self._retain_ms,
                batch=batch,
            )
            admitted += tick.admitted
        return admitted

    async def stats(self, concert_id: int) -> QueueStats:
        waiting, active, minute, recent, sold_out = await self.store.stats(concert_id, self._now_ms())
        return QueueStats(
            concert_id=concert_id,
            waiting=waiting,
            active=active,
            admitted_last_minute=minute,
            admission_rate_per_second=recent / 10,
            sold_out=sold_out,
        )

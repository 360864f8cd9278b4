from __future__ import annotations

from ticketing.kernel.jobs import PeriodicJob
from ticketing.reservations.service import ReservationService

SWEEP_SECONDS = 1.0
BATCH = 500


def hold_sweeper_job(reservations: ReservationService) -> PeriodicJob:
    async def sweep() -> None:
        # Drain a backlog in batches; each batch is its own short transaction.
        while await reservations.expire_lapsed(BATCH) == BATCH:
            pass

    return PeriodicJob("expire-lapsed-holds", SWEEP_SECONDS, sweep)

"""Concerts: the public list, and what operators create."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import msgspec

from ticketing.concerts.errors import ConcertNotFound
from ticketing.concerts.repository import ConcertRepository
from ticketing.concerts.schemas import ConcertIn, ConcertListItem, ConcertOut, ConcertPatch
from ticketing.kernel.uow import UnitOfWorkFactory

T = TypeVar("T")


class ConcertService:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory
        # Concerts are never deleted, so "it exists" stays true: remember it (hot check of the
        # queue and schedule endpoints). Unknown ids are not remembered.
        self._known: set[int] = set()

    async def create_concert(self, data: ConcertIn) -> ConcertOut:
        async with self._uow_factory() as uow:
            concert = await uow.repo(ConcertRepository).add(data.title, data.venue, data.description)
            await uow.commit()
        return concert

    async def update_concert(self, concert_id: int, patch: ConcertPatch) -> ConcertOut:
        changes = {name: value for name, value in msgspec.structs.asdict(patch).items() if value is not msgspec.UNSET}
        async with self._uow_factory(autocommit=True) as uow:
            concert = await uow.repo(ConcertRepository).update(concert_id, changes)
        if concert is None:
            raise ConcertNotFound()
        return concert

    async def set_sale_paused(self, concert_id: int, paused: bool, apply: Callable[[], Awaitable[T]]) -> T:
        """Record the pause (or resume) and run ``apply`` (the Redis flag's write) while the row
        is locked, committing only if it succeeded: the record and the flag agree, and the job
        re-asserting pauses (``reassert_pauses``) cannot interleave with this."""
        async with self._uow_factory() as uow:
            if not await uow.repo(ConcertRepository).set_sale_paused(concert_id, paused):
                raise ConcertNotFound()
            applied = await apply()
            await uow.commit()
        self._known.add(concert_id)
        return applied

    async def reassert_pauses(self, apply: Callable[[int], Awaitable[None]]) -> None:
        """Run ``apply`` (set the Redis flag) for each paused concert, its row share-locked
        meanwhile so a resume being recorded waits for it (and one in flight is skipped)."""
        async with self._uow_factory() as uow:
            for concert_id in await uow.repo(ConcertRepository).lock_paused():
                await apply(concert_id)
            await uow.commit()

    async def list_concerts(self) -> list[ConcertOut]:
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ConcertRepository).all()

    async def list_concerts_on_sale(self) -> list[ConcertListItem]:
        """The public list: every concert with where its sale stands (read fresh: the state
        changes at an opening, and the countdown is drawn from ``sale_opens_at``)."""
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(ConcertRepository).all_with_sale()

    async def get_concert(self, concert_id: int) -> ConcertOut:
        async with self._uow_factory(autocommit=True) as uow:
            concert = await uow.repo(ConcertRepository).get(concert_id)
        if concert is None:
            raise ConcertNotFound()
        return concert

    async def get_concerts(self, concert_ids: Iterable[int]) -> dict[int, ConcertOut]:
        """The concerts among ``concert_ids`` that exist, by id (one read for a page of tickets)."""
        async with self._uow_factory(autocommit=True) as uow:
            concerts = await uow.repo(ConcertRepository).many(sorted(set(concert_ids)))
        return {concert.id: concert for concert in concerts}

    async def ensure_exists(self, concert_id: int) -> None:
        if concert_id in self._known:
            return
        async with self._uow_factory(autocommit=True) as uow:
            found = await uow.repo(ConcertRepository).exists(concert_id)
        if not found:
            raise ConcertNotFound()
        self._known.add(concert_id)

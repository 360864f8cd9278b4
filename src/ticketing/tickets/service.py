"""E-tickets: one per payment, issued by the payment's own statement
(``payments/repository.py`` composes ``tickets/sql.py``), listed on the fan's page with a QR code
of its code, checked in once at the door, voided by a refund.

A check-in is one conditional UPDATE (VALID -> USED): of doors scanning one code at once exactly
one answers 200; the others read the ticket again to say why not (used, with the first
``checked_in_at``; refunded; unknown). A refund voids the ticket with the same kind of write in
its own transaction (``void_for_refund``), so a refund racing a check-in is decided by the
ticket's row lock: one of them wins, the other is refused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import segno

from ticketing.concerts.service import ConcertService
from ticketing.kernel.pagination import decode_cursor, next_cursor
from ticketing.kernel.security import Principal
from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.schedules.service import ScheduleService
from ticketing.tickets.errors import (
    TicketAlreadyUsed,
    TicketNotFound,
    TicketRefunded,
    TicketUserMismatch,
    TicketWrongSchedule,
)
from ticketing.tickets.repository import TicketRepository
from ticketing.tickets.schemas import (
    DoorCount,
    DoorDate,
    TicketConcert,
    TicketOut,
    TicketPage,
    TicketRow,
    TicketSchedule,
    TicketSeat,
    normal_code,
)

CSV_COLUMNS = (
    "ticket_id",
    "code",
    "status",
    "seat_id",
    "seat_number",
    "user_id",
    "reservation_id",
    "payment_id",
    "checked_in_at",
)
DOOR_DATES_SINCE = timedelta(days=1)  # a door still serves a date that started today
QR_SCALE = 8  # pixels per module at the SVG's own size; the page may scale it (it is a vector)
QR_BORDER = 4  # the quiet zone the QR standard asks for, in modules


def qr_svg(code: str) -> bytes:
    """The QR code of ``code`` as an SVG document. Error correction M (15 %: a scuffed phone
    screen still scans); dark on a white background, which a scanner needs even on a dark page."""
    qr = segno.make_qr(code, error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=QR_SCALE, border=QR_BORDER, dark="#000", light="#fff", title="Ticket")
    return out.getvalue()


class TicketService:
    def __init__(self, uow_factory: UnitOfWorkFactory, concerts: ConcertService, schedules: ScheduleService) -> None:
        self._uow_factory = uow_factory
        self._concerts = concerts
        self._schedules = schedules

    async def list_tickets(self, principal: Principal, cursor: str | None, limit: int) -> TicketPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await uow.repo(TicketRepository).page_of_user(principal.user_id, before, limit + 1)
        return TicketPage(items=await self._shown(rows[:limit]), next_cursor=next_cursor([r.id for r in rows], limit))

    async def get_ticket(self, principal: Principal, ticket_id: int) -> TicketOut:
        [shown] = await self._shown([await self._owned(principal, ticket_id)])
        return shown

    async def qr_code(self, principal: Principal, ticket_id: int) -> bytes:
        """The SVG QR code of the fan's ticket (owner only: the code is what gets a fan in)."""
        return qr_svg((await self._owned(principal, ticket_id)).code)

    async def check_in(self, code: str, schedule_id: int | None = None) -> TicketOut:
        """Door staff and operators at the door: VALID -> USED once (see the module's docstring).
        ``schedule_id``: the date the door serves; a ticket of another date is refused (409
        TICKET_WRONG_SCHEDULE, before used or refunded: it is not this door's to judge) and is
        left as it was; a date that does not exist is 404 SCHEDULE_NOT_FOUND."""
        stored = normal_code(code)
        ticket: TicketRow | None = None
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(TicketRepository)
            used = await repo.check_in(stored, schedule_id) if stored is not None else None
            if used is None and stored is not None:
                ticket = await repo.by_code(stored)
        if used is None:
            if ticket is not None and schedule_id is not None and ticket.schedule_id != schedule_id:
                await self._schedules.schedule(schedule_id)  # 404 for a door set up for no date
                own = await self._schedules.schedule(ticket.schedule_id)
                raise TicketWrongSchedule(
                    f"This ticket is for the date {own.id} starting at {own.starts_at.isoformat()}",
                    ticket_schedule_id=own.id,
                    ticket_starts_at=own.starts_at,
                )
            raise self._why_not(ticket)
        [shown] = await self._shown([used])
        return shown

    async def door_count(self, schedule_id: int) -> DoorCount:
        """A date's door: checked in and sold (404 for an unknown date)."""
        schedule = await self._schedules.schedule(schedule_id)
        concert = await self._concerts.get_concert(schedule.concert_id)
        async with self._uow_factory(autocommit=True) as uow:
            checked_in, sold = await uow.repo(TicketRepository).door_count(schedule_id)
        return DoorCount(
            schedule_id=schedule_id,
            starts_at=schedule.starts_at,
            concert=TicketConcert(id=concert.id, title=concert.title, venue=concert.venue),
            checked_in=checked_in,
            sold=sold,
        )

    async def door_dates(self, now: datetime | None = None) -> list[DoorDate]:
        """The dates a door can serve: every date that started less than a day ago or is to
        come, soonest first."""
        since = (now or datetime.now(UTC)) - DOOR_DATES_SINCE
        dates: list[DoorDate] = []
        for concert in await self._concerts.list_concerts():
            shown = TicketConcert(id=concert.id, title=concert.title, venue=concert.venue)
            for schedule_id in await self._schedules.schedule_ids(concert.id):
                schedule = await self._schedules.schedule(schedule_id)
                if schedule.starts_at >= since:
                    dates.append(DoorDate(schedule_id=schedule_id, starts_at=schedule.starts_at, concert=shown))
        return sorted(dates, key=lambda date: (date.starts_at, date.schedule_id))

    async def schedule_tickets(
        self, schedule_id: int, status: str | None, cursor: str | None, limit: int
    ) -> TicketPage:
        """A date's tickets for the operators, newest first (``status``: only those)."""
        await self._schedules.schedule(schedule_id)
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await uow.repo(TicketRepository).page_of_schedule(schedule_id, status, before, limit + 1)
        return TicketPage(items=await self._shown(rows[:limit]), next_cursor=next_cursor([r.id for r in rows], limit))

    async def schedule_csv(self, schedule_id: int) -> bytes:
        """Every ticket of a date as CSV (UTF-8, a header line), by seat number."""
        await self._schedules.schedule(schedule_id)
        async with self._uow_factory(autocommit=True) as uow:
            rows = await uow.repo(TicketRepository).all_of_schedule(schedule_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            checked_in_at = row.checked_in_at.isoformat() if row.checked_in_at is not None else ""
            writer.writerow(
                (
                    row.id,
                    row.code,
                    row.status,
                    row.seat_id,
                    row.seat_number,
                    row.user_id,
                    row.reservation_id,
                    row.payment_id,
                    checked_in_at,
                )
            )
        return out.getvalue().encode()

    # Used by the payments domain, in the refund's unit of work.
    async def void_for_refund(self, uow: UnitOfWork, payment_id: int) -> TicketRow:
        """Mark the payment's ticket REFUNDED (rolled back with the caller's transaction if the
        refund fails); TICKET_ALREADY_USED once it was checked in."""
        repo = uow.repo(TicketRepository)
        voided = await repo.void_for_refund(payment_id)
        if voided is not None:
            return voided
        ticket = await repo.of_payment(payment_id)
        if ticket is None:  # every payment's statement issues its ticket (migration 0006 issued the older ones)
            raise RuntimeError(f"payment {payment_id} has no ticket")
        raise self._why_not(ticket)

    @staticmethod
    def _why_not(ticket: TicketRow | None) -> Exception:
        if ticket is None:
            return TicketNotFound("No ticket has this code")
        if ticket.status == "USED":
            assert ticket.checked_in_at is not None  # the table's CHECK: used exactly when checked in
            return TicketAlreadyUsed(
                f"checked in at {ticket.checked_in_at.isoformat()}", checked_in_at=ticket.checked_in_at
            )
        return TicketRefunded()

    async def _owned(self, principal: Principal, ticket_id: int) -> TicketRow:
        async with self._uow_factory(autocommit=True) as uow:
            ticket = await uow.repo(TicketRepository).get(ticket_id)
        if ticket is None:
            raise TicketNotFound()
        if ticket.user_id != principal.user_id:
            raise TicketUserMismatch()
        return ticket

    async def _shown(self, rows: Sequence[TicketRow]) -> list[TicketOut]:
        """The tickets with their concert (one read for the page) and date (remembered by the
        schedules domain)."""
        concerts = await self._concerts.get_concerts({row.concert_id for row in rows}) if rows else {}
        starts = {sid: (await self._schedules.schedule(sid)).starts_at for sid in {row.schedule_id for row in rows}}
        return [
            TicketOut(
                id=row.id,
                code=row.code,
                status=row.status,  # type: ignore[arg-type]
                concert=TicketConcert(
                    id=row.concert_id, title=concerts[row.concert_id].title, venue=concerts[row.concert_id].venue
                ),
                schedule=TicketSchedule(id=row.schedule_id, starts_at=starts[row.schedule_id]),
                seat=TicketSeat(id=row.seat_id, number=row.seat_number),
                reservation_id=row.reservation_id,
                payment_id=row.payment_id,
                checked_in_at=row.checked_in_at,
            )
            for row in rows
        ]

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from ticketing.kernel.text import plain_text


class ConcertIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, plain_text(min_length=1, max_length=200)]
    venue: Annotated[str, plain_text(max_length=200)] | None = None
    description: Annotated[str, plain_text(max_length=5000, multiline=True)] | None = None


class ConcertPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A change of a concert: a field left out stays as it is; ``venue`` or ``description`` sent
    as null is cleared (a title cannot be)."""

    title: Annotated[str, plain_text(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    venue: Annotated[str, plain_text(max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET
    description: Annotated[str, plain_text(max_length=5000, multiline=True)] | msgspec.UnsetType | None = msgspec.UNSET


class ConcertOut(msgspec.Struct):
    id: int
    title: str
    venue: str | None
    description: str | None


# Where a concert's sale stands, for the list fans browse (Korean box offices' 오픈 예정 / 예매 중 /
# 매진): NOT_SCHEDULED no date yet; UPCOMING no date open now but one opens at ``sale_opens_at``;
# ON_SALE a date is open with a seat not yet sold (a held seat may still come back); SOLD_OUT every
# open date sold and none to come; CLOSED every date's window has ended; PAUSED would be ON_SALE
# but an operator paused the sale (nobody is admitted from the queue until it resumes).
SaleState = Literal["NOT_SCHEDULED", "UPCOMING", "ON_SALE", "SOLD_OUT", "CLOSED", "PAUSED"]


def sale_state(
    has_dates: bool, next_opening: datetime | None, open_now: bool, unsold_open: bool, *, paused: bool = False
) -> SaleState:
    if unsold_open:
        return "PAUSED" if paused else "ON_SALE"
    if next_opening is not None:
        return "UPCOMING"
    if open_now:
        return "SOLD_OUT"
    return "CLOSED" if has_dates else "NOT_SCHEDULED"


class ConcertListItem(ConcertOut):
    """A concert of the public list, with its sale state; ``sale_opens_at`` is the next opening
    still to come (null when none is), for the page's countdown."""

    sale_state: SaleState
    sale_opens_at: datetime | None

"""Cursor pagination shared by the growing lists (ledger, payments): newest first, the cursor is
the id of the last item of the previous page."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from ticketing.edge.params import CANONICAL, MAX_ID, canonical_positive_int
from ticketing.kernel.errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

# A cursor is the id this endpoint returned in ``next_cursor``: canonical digits (edge/params.py).
CursorParam = Annotated[
    str | None,
    Parameter(
        query="cursor",
        required=False,
        max_length=19,
        pattern=r"^([1-9][0-9]*)?\Z",
        description="The next_cursor of the previous page (empty or absent: the first page)",
    ),
]
# "limit=1.0" or "limit=01" is refused like any non-canonical integer (edge/params.py).
LimitParam = Annotated[int, Parameter(query="limit", ge=1, le=MAX_LIMIT), CANONICAL]


# Ids are bigint: the first page is "every id below the largest one".
FIRST_PAGE = MAX_ID


def decode_cursor(cursor: str | None) -> int:
    """The id every item of the page is below (``FIRST_PAGE`` without a cursor)."""
    if cursor is None or cursor == "":
        return FIRST_PAGE
    before = canonical_positive_int(cursor)
    if before is None:
        raise ValidationError("cursor: not a cursor returned by this endpoint")
    return before


def next_cursor(ids: list[int], limit: int) -> str | None:
    """Pages are fetched with limit + 1 rows: the extra row only says whether more exist."""
    return str(ids[limit - 1]) if len(ids) > limit else None

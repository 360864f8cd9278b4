"""Cursor pagination shared by the growing lists (ledger, payments, tickets): newest first, the
cursor is the id of the last item of the previous page. The request parameters are
``edge.pagination``'s."""

from __future__ import annotations

from ticketing.kernel.errors import ValidationError
from ticketing.kernel.ids import MAX_ID, canonical_positive_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

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

"""Cursor pagination shared by the growing lists (ledger, payments): newest first, the cursor is
the id of the last item of the previous page."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from ticketing.core.errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

CursorParam = Annotated[str | None, Parameter(query="cursor", required=False, max_length=32)]
LimitParam = Annotated[int, Parameter(query="limit", ge=1, le=MAX_LIMIT)]


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or int(cursor) <= 0:
        raise ValidationError("cursor: not a cursor returned by this endpoint")
    return int(cursor)


def next_cursor(ids: list[int], limit: int) -> str | None:
    """Pages are fetched with limit + 1 rows: the extra row only says whether more exist."""
    return str(ids[limit - 1]) if len(ids) > limit else None

"""The cursor and limit parameters of the paged lists (the rule: ``kernel.pagination``)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from ticketing.edge.params import CANONICAL
from ticketing.kernel.pagination import MAX_LIMIT

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

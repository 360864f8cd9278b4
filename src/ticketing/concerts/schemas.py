from __future__ import annotations

from typing import Annotated

import msgspec

from ticketing.kernel.text import plain_text


class ConcertIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, plain_text(min_length=1, max_length=200)]
    venue: Annotated[str, plain_text(max_length=200)] | None = None
    description: Annotated[str, plain_text(max_length=5000, multiline=True)] | None = None


class ConcertOut(msgspec.Struct):
    id: int
    title: str
    venue: str | None
    description: str | None

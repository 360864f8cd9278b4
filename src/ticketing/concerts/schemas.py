from __future__ import annotations

from typing import Annotated

import msgspec


class ConcertIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    venue: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None


class ConcertOut(msgspec.Struct):
    id: int
    title: str
    venue: str | None
    description: str | None

from __future__ import annotations

from typing import Annotated

import msgspec

from ticketing.core.text import plain_text


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

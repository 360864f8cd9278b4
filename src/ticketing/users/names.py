"""Look-alike names: the key under which a name is unique.

Two names may not both exist when they look alike: when their case-folded forms are equal (the
``lower(name)`` unique index, since the first migration) or when their keys are (the
``users.name_key`` unique index). The key is the Unicode TR39 confusable skeleton of the name,
computed by ``disarm``'s ``skeleton_key`` with TR39's digit classes (``1`` and capital ``I``
read as ``l``, ``0`` as ``o``), case-folded, of the name without separators (``. _ -``) at either
end. So ``aIice``, ``a1ice``, ``ALICE`` and ``alice.`` are all taken once ``alice`` exists, and
``admin.``, ``_admin`` and ``adm1n`` once ``admin`` does. Separators inside a name count
(``ad.min`` is not ``admin``); multi-letter look-alikes that TR39 lists (``rn`` for ``m``, ``vv``
for ``w``) are not folded by the library and still register.

Both indexes are the database's: two concurrent sign-ups of look-alikes cannot both commit.
"""

from __future__ import annotations

from disarm import skeleton_key

SEPARATORS = "._-"


def name_key(name: str) -> str:
    """The key that no two accounts share (see the module's docstring)."""
    return skeleton_key(name.strip(SEPARATORS), digit_policy="tr39")

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

A display name (issue 25) is what the pages call the fan — Korean, say — apart from the sign-in
name above. It need not be unique (nobody signs in with it), but it is held to TR39's "highly
restrictive" level so that it cannot pass for another word by mixing scripts: one script, or
Latin with the scripts written beside it (Hangul and Han; Han, Hiragana and Katakana; Han and
Bopomofo). Letters, marks, digits, inner single spaces and ``. _ - ' ·`` only (no emoji, symbols
or invisible characters), NFC, at most 20 characters as people count them (graphemes).
"""

from __future__ import annotations

import unicodedata

from disarm import Script, detect_scripts, grapheme_len, is_zalgo, skeleton_key

SEPARATORS = "._-"


def name_key(name: str) -> str:
    """The key that no two accounts share (see the module's docstring)."""
    return skeleton_key(name.strip(SEPARATORS), digit_policy="tr39")


DISPLAY_NAME_MAX_GRAPHEMES = 20
_DISPLAY_PUNCTUATION = set(".-_'·")
# TR39 5.2 "Highly Restrictive": a single script, or one of these sets (Common and Inherited,
# which detect_scripts leaves out, go with any).
_SCRIPT_SETS = (
    {Script.LATIN, Script.HANGUL, Script.HAN},
    {Script.LATIN, Script.HAN, Script.HIRAGANA, Script.KATAKANA},
    {Script.LATIN, Script.HAN, Script.BOPOMOFO},
)


def clean_display_name(text: str) -> str:
    """The display name as stored: NFC, without spaces at either end."""
    return unicodedata.normalize("NFC", text).strip(" ")


def _not_allowed(char: str) -> bool:
    kind = unicodedata.category(char)
    return not (kind[0] in "LM" or kind == "Nd" or char == " " or char in _DISPLAY_PUNCTUATION)


def display_name_fault(name: str) -> str | None:
    """Why ``name`` (as ``clean_display_name`` gives it) may not be a display name, or None."""
    stray = next((char for char in name if _not_allowed(char)), None)
    scripts = set(detect_scripts(name))
    faults = (
        (not any(unicodedata.category(char)[0] == "L" for char in name), "a display name needs at least one letter"),
        (
            grapheme_len(name) > DISPLAY_NAME_MAX_GRAPHEMES,
            f"a display name has at most {DISPLAY_NAME_MAX_GRAPHEMES} characters",
        ),
        ("  " in name, "a display name has single spaces between words"),
        (
            stray is not None,
            "a display name has letters, digits, spaces and . _ - ' · only "
            f"(not {unicodedata.name(stray or ' ', hex(ord(stray or ' ')))})",
        ),
        (is_zalgo(name), "a display name may not stack combining marks"),
        (
            len(scripts) > 1 and not any(scripts <= allowed for allowed in _SCRIPT_SETS),
            "a display name may not mix these scripts (look-alike letters): "
            + ", ".join(sorted(script.name.title() for script in scripts)),
        ),
    )
    return next((why for faulty, why in faults if faulty), None)

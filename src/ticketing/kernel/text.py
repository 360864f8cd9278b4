"""What user-sent text may contain, shared by every request schema and parser.

- Strings: PostgreSQL refuses NUL in text (an error, not a 4xx) and control characters have no
  business in names, titles or passwords (look-alike names, log injection), so every string field
  of a body is declared with ``plain_text`` and rejected with 422 at decoding.
- Numbers: ``str.isdigit()`` is true for ``"²"`` and Arabic-Indic digits, which ``int()`` then
  refuses or reads, so every id a client sends as text (path id, query integer, cursor, token
  field, JWT subject) is parsed by ``edge.params.canonical_positive_int``: ASCII digits only, no
  sign or leading zero, within PostgreSQL's bigint.
"""

from __future__ import annotations

import msgspec

# msgspec applies a pattern with ``re.search``: anchored with ``^`` and ``\Z`` (not ``$``, which
# also matches before a final newline) it is a full match. C0 and C1 control characters and DEL.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*\Z"
# Longer texts (descriptions) may keep their line breaks and tabs, never the other controls.
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*\Z"


def plain_text(
    *, max_length: int, min_length: int | None = None, multiline: bool = False, description: str | None = None
) -> msgspec.Meta:
    """The constraints of a string field of a request body: a length and no control characters
    (``multiline`` allows tab, line feed and carriage return)."""
    return msgspec.Meta(
        min_length=min_length,
        max_length=max_length,
        pattern=MULTI_LINE_PATTERN if multiline else SINGLE_LINE_PATTERN,
        description=description,
    )

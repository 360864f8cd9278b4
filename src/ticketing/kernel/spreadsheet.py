"""CSV lines that a spreadsheet opens as text, never as a formula (OWASP "CSV injection").

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)`` in a seat label of an uploaded
venue plan, or in a fan's name, would run on the operator's machine). Such a cell is written
with a leading apostrophe, which the spreadsheet shows as text and does not display. Numbers are
written by the caller as ints, which are never prefixed (a refund is never a negative amount)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str | int | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_lines(rows: Iterable[Iterable[str | int | datetime | None]]) -> bytes:
    """The rows as CSV (RFC 4180: quoted where needed, CRLF line ends), UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue().encode()

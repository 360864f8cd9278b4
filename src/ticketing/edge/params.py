"""Shared request parameter types (ids, the queue-token and Idempotency-Key headers that several
domains' endpoints take), and the one rule for integers a client writes in a URL.

Ids in paths are declared as ``{name:str}`` in the route and typed ``PathId`` in the handler, so
that a malformed id ("abc", "1.5", 0, -1) answers 422 VALIDATION_ERROR as docs/api.md requires,
instead of a routing 404.

Litestar converts a path or query value to ``int`` leniently: "1.0" and "1e0" read as 1, so one
resource had many URLs and a client's typo was served instead of refused. Every integer a client
writes in a path or query string is therefore marked ``CANONICAL`` and checked before Litestar
reads it (``edge.http.strict_body``): a canonical positive decimal integer, ASCII digits without
sign, leading zero, spaces, decimal point or exponent (``CANONICAL_INTEGER_PATTERN``), at most
PostgreSQL's bigint. The OpenAPI document states the same (``edge.openapi``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Final

from litestar.params import Parameter

from ticketing.kernel.errors import ValidationError

MAX_ID = 2**63 - 1  # PostgreSQL bigint

# ``\Z``, not ``$``: in Python ``$`` also matches before a final newline. (The OpenAPI document
# spells the same rule in ECMA-262 syntax, where ``$`` is the end of the text.)
CANONICAL_INTEGER_PATTERN = r"^[1-9][0-9]*\Z"
_CANONICAL_INTEGER = re.compile(CANONICAL_INTEGER_PATTERN, re.ASCII)
_MAX_DIGITS = len(str(MAX_ID))


class CanonicalInteger:
    """Marks a path or query parameter typed ``int`` whose text must be a canonical positive decimal
    integer (Annotated metadata, found by ``edge.http`` and ``edge.openapi``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CANONICAL"


CANONICAL: Final = CanonicalInteger()


def canonical_positive_int(text: str) -> int | None:
    """``text`` as an integer in 1..2^63-1 if it is written canonically ("42"), else None
    ("042", "+42", "42.0", "4e1", " 42", "٤٢", "0", beyond bigint)."""
    if len(text) > _MAX_DIGITS or _CANONICAL_INTEGER.match(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


PathId = Annotated[
    int,
    Parameter(gt=0, le=MAX_ID, description="A positive integer id in canonical decimal form (1 to 2^63-1)"),
    CANONICAL,
]

# -- headers several domains' endpoints take ---------------------------------------------------

MAX_QUEUE_TOKEN_LENGTH = 256  # far above the longest token the waiting room makes (< 150 characters)
QueueTokenHeader = Annotated[
    str | None, Parameter(header="X-Queue-Token", required=False, max_length=MAX_QUEUE_TOKEN_LENGTH)
]

# The proof-of-work gate's solution (kernel/challenge.py): base64 of ALTCHA's JSON payload. Longer
# ones are refused by the gate unread (428 with a fresh challenge, like any invalid solution).
AltchaHeader = Annotated[
    str | None,
    Parameter(
        header="X-Altcha",
        required=False,
        description="A solved proof-of-work challenge (ALTCHA): base64 of the JSON {algorithm, challenge, "
        "number, salt, signature}, the challenge taken from a 428 CHALLENGE_REQUIRED answer. Needed only "
        "when the proof-of-work gate asks for it (docs/security.md: Proof-of-work gate).",
    ),
]

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# What a key may be: 1-255 visible ASCII characters (no space, control or non-ASCII byte; the
# server reads header bytes as latin-1, so "caf\xe9" arrived as a different text than was sent).
# The header parameter refuses anything else with 422 VALIDATION_ERROR before the request is
# looked at, and the OpenAPI document states the pattern.
IDEMPOTENCY_KEY_PATTERN = rf"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}\Z"
IdempotencyKeyHeader = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retry safely with the same key: 1-255 visible ASCII characters, no space (else 422)",
    ),
]


def distinct_ids(
    ids: Sequence[int], *, name: str, most: int, error: type[ValidationError] = ValidationError
) -> list[int]:
    """The ids of a request that names several (seats of a hold, reservations of a payment),
    ascending — the order every lock is taken in — after checking they are 1 to ``most``
    distinct ids (else ``error``, a 422)."""
    ascending = sorted(set(ids))
    if len(ascending) != len(ids):
        raise error(f"{name} must be distinct")
    if not 1 <= len(ascending) <= most:
        raise error(f"{name} takes 1 to {most} ids")
    return ascending

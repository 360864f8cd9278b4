"""The rules for the ids and keys a client writes, the same wherever they arrive (a path, a query,
a body, a token): a canonical positive decimal integer within PostgreSQL's bigint, and the
bounds of the queue-token and Idempotency-Key headers. Litestar-free: the services check with
them too; ``edge.params`` declares the request parameters on them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ticketing.kernel.errors import ValidationError

MAX_ID = 2**63 - 1  # PostgreSQL bigint

# ``\Z``, not ``$``: in Python ``$`` also matches before a final newline. (The OpenAPI document
# spells the same rule in ECMA-262 syntax, where ``$`` is the end of the text.)
CANONICAL_INTEGER_PATTERN = r"^[1-9][0-9]*\Z"
_CANONICAL_INTEGER = re.compile(CANONICAL_INTEGER_PATTERN, re.ASCII)
_MAX_DIGITS = len(str(MAX_ID))


def canonical_positive_int(text: str) -> int | None:
    """``text`` as an integer in 1..2^63-1 if it is written canonically ("42"), else None
    ("042", "+42", "42.0", "4e1", " 42", "٤٢", "0", beyond bigint)."""
    if len(text) > _MAX_DIGITS or _CANONICAL_INTEGER.match(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


MAX_QUEUE_TOKEN_LENGTH = 256  # far above the longest token the waiting room makes (< 150 characters)

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# What a key may be: 1-255 visible ASCII characters (no space, control or non-ASCII byte; the
# server reads header bytes as latin-1, so "caf\xe9" arrived as a different text than was sent).
# The header parameter refuses anything else with 422 VALIDATION_ERROR before the request is
# looked at, and the OpenAPI document states the pattern.
IDEMPOTENCY_KEY_PATTERN = rf"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}\Z"


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

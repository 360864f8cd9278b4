"""Shared request parameter types (ids, the queue-token and Idempotency-Key headers that several
domains' endpoints take), on the rules of ``kernel.ids``, and ``idempotent_post``, which binds an
Idempotency-Key to its request.

Ids in paths are declared as ``{name:str}`` in the route and typed ``PathId`` in the handler, so
that a malformed id ("abc", "1.5", 0, -1) answers 422 VALIDATION_ERROR as docs/api.md requires,
instead of a routing 404.

Litestar converts a path or query value to ``int`` leniently: "1.0" and "1e0" read as 1, so one
resource had many URLs and a client's typo was served instead of refused. Every integer a client
writes in a path or query string is therefore marked ``CANONICAL`` and checked before Litestar
reads it (``edge.body.strict_body``): a canonical positive decimal integer, ASCII digits without
sign, leading zero, spaces, decimal point or exponent (``kernel.ids.CANONICAL_INTEGER_PATTERN``), at most
PostgreSQL's bigint. The OpenAPI document states the same (``edge.openapi``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Request
from litestar.params import Parameter

from ticketing.idempotency.service import IdempotentRequest, idempotent_request
from ticketing.kernel.ids import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_ID,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_QUEUE_TOKEN_LENGTH,
)
from ticketing.kernel.security import Principal


class CanonicalInteger:
    """Marks a path or query parameter typed ``int`` whose text must be a canonical positive decimal
    integer (Annotated metadata, found by ``edge.body`` and ``edge.openapi``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CANONICAL"


CANONICAL: Final = CanonicalInteger()


PathId = Annotated[
    int,
    Parameter(gt=0, le=MAX_ID, description="A positive integer id in canonical decimal form (1 to 2^63-1)"),
    CANONICAL,
]

# -- headers several domains' endpoints take ---------------------------------------------------

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


def idempotent_post(
    request: Request[Principal, Any, Any], key: str | None, data: msgspec.Struct | None = None
) -> IdempotentRequest | None:
    """The ``Idempotency-Key`` of the signed-in caller's POST, bound to its path and its body as
    msgspec encodes the parsed ``data`` (whitespace or key order do not make a retry another
    request); ``data`` is None for a POST without a body. None without a key."""
    body = msgspec.json.encode(data) if data is not None else b""
    return idempotent_request(request.user.user_id, key, "POST", request.url.path, body)

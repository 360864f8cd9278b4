"""Signed queue tokens: the fan's place in the serving-counter queue, verified without Redis.

A token reads ``q1.<concert>.<epoch>.<seq>.<user>.<issued-at>.<name>.<signature>``:

- ``concert``, ``seq`` (the arrival number from the queue's ``INCR``), ``user`` and ``name``
  (the fan it was issued to) and ``issued-at`` (Unix seconds) are what every read needs: a poll
  answers position and status from them and the process's snapshot of the queue's counters;
- ``epoch`` names one generation of the concert's queue in Redis: should Redis lose the queue,
  the next join starts a new epoch and tokens of the old one read as unknown instead of pointing
  at someone else's arrival number;
- the signature is HMAC-SHA256 (first 128 bits) over everything before it, with a key derived
  from the service's signing secret, so a token cannot be forged or altered (another sequence,
  concert or user) without the secret.

The name may contain dots (names are letters, digits and ``_ . -``): it is the last field before
the signature, so parsing splits the fixed fields from the left and the signature from the right.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from ticketing.kernel.ids import MAX_QUEUE_TOKEN_LENGTH, canonical_positive_int

VERSION = "q1"
_SIGNATURE_CHARS = 22  # 16 bytes, base64url without padding
_VERIFIED_MAX = 100_000  # verified tokens remembered per process (about 30 MB at most)


@dataclass(frozen=True, slots=True)
class QueueToken:
    concert_id: int
    epoch: str
    seq: int
    user_id: int
    issued_at: int
    name: str
    raw: str


class QueueTokenCodec:
    def __init__(self, secret: str) -> None:
        # A key of its own, so a queue token can never be replayed as anything else signed with
        # the service's secret (access tokens) and the other way round.
        self._key = hmac.new(secret.encode(), b"ticketing queue token v1", hashlib.sha256).digest()
        self._verified: dict[str, QueueToken] = {}

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, concert_id: int, epoch: str, seq: int, user_id: int, issued_at: int, name: str) -> str:
        body = f"{VERSION}.{concert_id}.{epoch}.{seq}.{user_id}.{issued_at}.{name}"
        return f"{body}.{self._sign(body)}"

    def decode(self, raw: str | None) -> QueueToken | None:
        """The token's fields if it is well formed and its signature holds, else None. A fan
        sends the same token with every poll and page: verified ones are remembered (bounded)."""
        if not raw or len(raw) > MAX_QUEUE_TOKEN_LENGTH:
            return None
        known = self._verified.get(raw)
        if known is not None:
            return known
        token = self._verify(raw)
        if token is not None:
            if len(self._verified) >= _VERIFIED_MAX:
                for stale in list(self._verified)[: _VERIFIED_MAX // 2]:  # the oldest half
                    del self._verified[stale]
            self._verified[raw] = token
        return token

    def _verify(self, raw: str) -> QueueToken | None:
        if not raw.isascii():
            return None
        body, dot, signature = raw.rpartition(".")
        if not dot or len(signature) != _SIGNATURE_CHARS:
            return None
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        parts = body.split(".", 6)
        if len(parts) != 7 or parts[0] != VERSION:
            return None
        _, concert, epoch, seq, user, issued_at, name = parts
        # Ids and counters are PostgreSQL bigint / Redis 64-bit integers, in ASCII digits.
        concert_id, seq_number, user_id = (canonical_positive_int(field) for field in (concert, seq, user))
        issued = canonical_positive_int(issued_at)
        if concert_id is None or seq_number is None or user_id is None or issued is None or not epoch or not name:
            return None
        return QueueToken(concert_id, epoch, seq_number, user_id, issued, name, raw)

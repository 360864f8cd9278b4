"""Fair start: the fans who join a queue before its sale opens are put in random order at the
opening (the "pre-queue" of Queue-it and Cloudflare's Waiting Room), so that refreshing at T-0,
or a bot that joins in the first millisecond, gains nothing; from the opening on, first come,
first served.

At the opening, the ``P`` fans who arrived before it (arrival numbers ``1..P``) get their ranks
from a keyed pseudo-random permutation of ``1..P``; a fan arriving after it keeps their arrival
number as their rank (``P + 1``, ``P + 2``, … in arrival order), so every rank is behind every
pre-queue rank. Positions, admission and ETAs then work in rank space exactly as the plain queue
does in arrival space: no list of a million fans is ever reordered or copied.

The permutation is a 4-round Feistel network over ``a * b >= P`` (``a = ⌈√P⌉``, ``b = ⌈P / a⌉``,
the halves alternating between the two radices as in NIST's FF1), with cycle walking to stay
inside ``1..P`` (``a * b - P < a``, so a walk almost never takes a second step). Each round is
the first 32 bits of ``SHA-1(key ":" round ":" half)``: SHA-1 is what Redis's Lua offers
(``redis.sha1hex``), so the admitter (in Redis) and every process's view (in Python) compute the
same ranks, bit for bit; a test admits a pre-queue with a fixed key and checks both.

The key is 128 random bits drawn by the service when the pre-queue begins (its first join), kept
secret in Redis until the opening, and published as a commitment at once: its SHA-256
(``commitment``), which anyone can read before the opening (``GET
/api/v1/concerts/{id}/queue/draw``). The draw (the first join or admission tick at or after the
opening; one atomic script, so every process gets the same draw from the queue's change stream)
reveals the key, and every fan can then check it against the commitment and recompute their own
rank from their arrival number (docs/fair-draw.md): the service could not pick the key after
seeing who joined, and nobody could know it before the opening.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from math import isqrt

ROUNDS = 4
# Arrival numbers stay far below 2^40 (a trillion joins): Lua's numbers are doubles, and its
# ``%`` and ``/`` are exact on such integers.


def new_draw_key() -> str:
    """A fresh secret for one queue's draw (the service offers one with every join batch and
    admission tick; the script keeps the one offered when the pre-queue began)."""
    return secrets.token_hex(16)


def commitment(key: str) -> str:
    """What is published before the opening: SHA-256 of the key's text, in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def _shape(size: int) -> tuple[int, int]:
    a = isqrt(size)
    if a * a < size:
        a += 1
    b = size // a
    if a * b < size:
        b += 1
    return a, b


@dataclass(frozen=True, slots=True)
class Draw:
    """The pre-queue's order: ``size`` fans, ranked by the permutation under ``key``."""

    size: int
    key: str
    _a: int = field(init=False)
    _b: int = field(init=False)

    def __post_init__(self) -> None:
        a, b = _shape(max(self.size, 1))
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_b", b)

    def _round(self, index: int, half: int, modulus: int) -> int:
        digest = hashlib.sha1(f"{self.key}:{index}:{half}".encode(), usedforsecurity=False).digest()
        return int.from_bytes(digest[:4], "big") % modulus

    def _encrypt(self, x: int) -> int:
        left, right = divmod(x, self._b)  # left in Z_a, right in Z_b
        m1, m2 = self._a, self._b
        for index in range(1, ROUNDS + 1):
            left, right = right, (left + self._round(index, right, m1)) % m1
            m1, m2 = m2, m1
        return left * self._b + right

    def _decrypt(self, y: int) -> int:
        left, right = divmod(y, self._b)
        m1, m2 = self._a, self._b
        for index in range(ROUNDS, 0, -1):
            left, right = (right - self._round(index, left, m2)) % m2, left
            m1, m2 = m2, m1
        return left * self._b + right

    def rank(self, seq: int) -> int:
        """The rank of arrival number ``seq``: drawn for the pre-queue, the arrival number after."""
        return self._walk(seq, self._encrypt)

    def seq_at(self, rank: int) -> int:
        """The arrival number holding ``rank`` (the inverse of ``rank``)."""
        return self._walk(rank, self._decrypt)

    def _walk(self, number: int, cipher: Callable[[int], int]) -> int:
        """``number`` (1-based) through ``cipher``, a permutation of 0..a*b-1, by cycle walking: a
        value out of 0..size-1 is stepped again until it falls inside. Past ``size``, unchanged."""
        if number > self.size:
            return number
        x = cipher(number - 1)
        while x >= self.size:
            x = cipher(x)
        return x + 1


@dataclass(frozen=True, slots=True)
class FairStart:
    """A queue's fair start: when its sale opens, and its draw once the opening came."""

    opens_ms: int
    draw: Draw | None = None

    @classmethod
    def parse(cls, value: str) -> FairStart | None:
        """The ``start`` key's value ("<opens ms>" or "<opens ms> <size> <key>"); "" -> None."""
        if not value:
            return None
        opens, _, drawn = value.partition(" ")
        if not drawn:
            return cls(int(opens))
        size, _, key = drawn.partition(" ")
        return cls(int(opens), Draw(int(size), key))


# The same permutation in Redis's Lua (5.1: numbers are doubles, no integer division), for the
# scripts of ``store.py``. ``fs`` is the queue's fair start as ``fair_start()`` reads it.
LUA = f"""
local function fs_round(key, index, half, modulus)
  return tonumber(string.sub(redis.sha1hex(key .. ':' .. index .. ':' .. half), 1, 8), 16) % modulus
end
local function fs_shape(size)
  local a = math.floor(math.sqrt(size))
  while a * a > size do a = a - 1 end
  while a * a < size do a = a + 1 end
  local b = math.floor(size / a)
  if a * b < size then b = b + 1 end
  return a, b
end
local function fs_encrypt(x, key, a, b)
  local right = x % b
  local left = (x - right) / b
  local m1, m2 = a, b
  for index = 1, {ROUNDS} do
    left, right = right, (left + fs_round(key, index, right, m1)) % m1
    m1, m2 = m2, m1
  end
  return left * b + right
end
local function fs_decrypt(y, key, a, b)
  local right = y % b
  local left = (y - right) / b
  local m1, m2 = a, b
  for index = {ROUNDS}, 1, -1 do
    left, right = (right - fs_round(key, index, left, m2)) % m2, left
    m1, m2 = m2, m1
  end
  return left * b + right
end
-- The rank of arrival number seq, and the arrival number at a rank (see fair_start.py).
local function fs_walk(fs, n, cipher)
  if not fs or not fs.size or n > fs.size then return n end
  local a, b = fs_shape(fs.size)
  local x = cipher(n - 1, fs.key, a, b)
  while x >= fs.size do x = cipher(x, fs.key, a, b) end
  return x + 1
end
local function rank_of(fs, seq) return fs_walk(fs, seq, fs_encrypt) end
local function seq_at(fs, rank) return fs_walk(fs, rank, fs_decrypt) end
"""

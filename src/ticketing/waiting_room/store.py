"""The waiting room's Redis layout and every Redis command it sends.

All keys of one concert share the hash tag ``{<concert_id>}`` so that a Redis Cluster keeps them
in one slot and each Lua script stays atomic there. Per concert, prefix ``wr:{c}:``:

- ``seq``            INCR counter: arrival order
- ``waiting``        ZSET token -> arrival seq (position = ZRANK + 1, O(log n))
- ``seen``           ZSET token -> last poll (ms), to drop waiters who stopped polling
- ``active``         ZSET token -> active expiry (ms)
- ``adm``            ZSET token -> admission time (ms), last 60 s: rate limit and achieved rate
- ``user:<id>``      STRING -> the user's live token (one per user per concert)
- ``t:<token>``      HASH u (user id), n (name), s (status), x (deadline ms: active expiry, or
                     the time a silent waiter is dropped); expires when no longer needed
- ``soldout``        flag: no admissions, waiting fans are told SOLD_OUT
- ``lease``          the admitter's lease (one admitter per concert across processes)

``wr:concerts`` (a SET of concert ids with a queue) lets the admission job find the queues.
The token itself is ``<concert_id>.<192 random bits>``, so a token alone locates its keys.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from ticketing.core.redis import translate_redis_errors

CONCERTS_KEY = "wr:concerts"
# ``wr:concerts`` lives outside the concert's hash slot, so adding to it is a second round trip:
# each process does it at most this often per concert (often enough to survive a Redis restart).
REGISTER_EVERY_SECONDS = 5.0

_VIEW = """
local function view(p, tok, now)
  local h = p .. 't:' .. tok
  local f = redis.call('HMGET', h, 's', 'u', 'n', 'x')
  if not f[1] then return false end
  local st = f[1]
  local pos = -1
  if st == 'WAITING' then
    local r = redis.call('ZRANK', p .. 'waiting', tok)
    if r then pos = r + 1 end
    if redis.call('EXISTS', p .. 'soldout') == 1 then st = 'SOLD_OUT' end
  elseif st == 'ACTIVE' and tonumber(f[4]) <= now then
    st = 'EXPIRED'
  end
  local recent = redis.call('ZCOUNT', p .. 'adm', now - 10000, '+inf')
  return {tok, st, pos, f[2], f[3], f[4], recent}
end
local function forget_user(p, tok, user)
  if user and redis.call('GET', p .. 'user:' .. user) == tok then
    redis.call('DEL', p .. 'user:' .. user)
  end
end
"""

_ISSUE = (
    _VIEW
    + """
local p, user, name, newtok = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, grace, retain = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local ptr = p .. 'user:' .. user
local existing = redis.call('GET', ptr)
if existing then
  local h = p .. 't:' .. existing
  local f = redis.call('HMGET', h, 's', 'x')
  if f[1] == 'WAITING' then
    redis.call('ZADD', p .. 'seen', now, existing)
    redis.call('HSET', h, 'x', now + grace)
    redis.call('PEXPIRE', h, grace + retain)
    local v = view(p, existing, now)
    table.insert(v, 0)
    return v
  elseif f[1] == 'ACTIVE' and tonumber(f[2]) > now then
    local v = view(p, existing, now)
    table.insert(v, 0)
    return v
  end
end
local seq = redis.call('INCR', p .. 'seq')
local h = p .. 't:' .. newtok
redis.call('HSET', h, 'u', user, 'n', name, 's', 'WAITING', 'x', now + grace)
redis.call('PEXPIRE', h, grace + retain)
redis.call('ZADD', p .. 'waiting', seq, newtok)
redis.call('ZADD', p .. 'seen', now, newtok)
redis.call('SET', ptr, newtok)
local v = view(p, newtok, now)
table.insert(v, 1)
return v
"""
)

_INFO = (
    _VIEW
    + """
local p, tok = ARGV[1], ARGV[2]
local now, grace, retain = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local h = p .. 't:' .. tok
if redis.call('HGET', h, 's') == 'WAITING' and redis.call('ZSCORE', p .. 'seen', tok) then
  redis.call('ZADD', p .. 'seen', now, tok)
  redis.call('HSET', h, 'x', now + grace)
  redis.call('PEXPIRE', h, grace + retain)
end
return view(p, tok, now)
"""
)

_FINISH = (
    _VIEW
    + """
local p, tok, retain = ARGV[1], ARGV[2], tonumber(ARGV[3])
local h = p .. 't:' .. tok
local f = redis.call('HMGET', h, 's', 'u')
if not f[1] then return 0 end
if f[1] ~= 'DONE' then
  redis.call('HSET', h, 's', 'DONE')
  redis.call('PEXPIRE', h, retain)
end
redis.call('ZREM', p .. 'active', tok)
redis.call('ZREM', p .. 'waiting', tok)
redis.call('ZREM', p .. 'seen', tok)
forget_user(p, tok, f[2])
return 1
"""
)

# One admission tick: expire active tokens past their life, drop waiters who stopped polling,
# then admit the oldest waiters while (a) fewer than max_active are active and (b) fewer than
# `rate` were admitted in the last 1000 ms (a sliding window, so no second ever exceeds it).
_ADMIT = (
    _VIEW
    + """
local p = ARGV[1]
local now, max_active, rate = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, grace, retain, batch = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local expired = redis.call('ZRANGEBYSCORE', p .. 'active', '-inf', now, 'LIMIT', 0, 1000)
for _, t in ipairs(expired) do
  local h = p .. 't:' .. t
  if redis.call('HGET', h, 's') == 'ACTIVE' then
    redis.call('HSET', h, 's', 'EXPIRED')
    redis.call('PEXPIRE', h, retain)
  end
  forget_user(p, t, redis.call('HGET', h, 'u'))
  redis.call('ZREM', p .. 'active', t)
end
local silent = redis.call('ZRANGEBYSCORE', p .. 'seen', '-inf', now - grace, 'LIMIT', 0, 1000)
for _, t in ipairs(silent) do
  local h = p .. 't:' .. t
  if redis.call('HGET', h, 's') == 'WAITING' then
    redis.call('HSET', h, 's', 'EXPIRED')
    redis.call('PEXPIRE', h, retain)
  end
  forget_user(p, t, redis.call('HGET', h, 'u'))
  redis.call('ZREM', p .. 'waiting', t)
  redis.call('ZREM', p .. 'seen', t)
end
redis.call('ZREMRANGEBYSCORE', p .. 'adm', '-inf', now - 60000)
if redis.call('EXISTS', p .. 'soldout') == 1 then return {0, #expired, #silent} end
local free = max_active - redis.call('ZCARD', p .. 'active')
local allowance = rate - redis.call('ZCOUNT', p .. 'adm', now - 999, '+inf')
local n = math.min(free, allowance, batch)
local admitted = 0
while n > 0 do
  local popped = redis.call('ZPOPMIN', p .. 'waiting', n)
  if #popped == 0 then break end
  for i = 1, #popped, 2 do
    local t = popped[i]
    local h = p .. 't:' .. t
    redis.call('ZREM', p .. 'seen', t)
    if redis.call('HGET', h, 's') == 'WAITING' then
      redis.call('HSET', h, 's', 'ACTIVE', 'x', now + ttl)
      redis.call('PEXPIRE', h, ttl + retain)
      redis.call('ZADD', p .. 'active', now + ttl, t)
      redis.call('ZADD', p .. 'adm', now, t)
      admitted = admitted + 1
      n = n - 1
    end
  end
end
return {admitted, #expired, #silent}
"""
)

_LEASE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def concert_prefix(concert_id: int) -> str:
    return f"wr:{{{concert_id}}}:"


def new_token(concert_id: int) -> str:
    return f"{concert_id}.{secrets.token_urlsafe(24)}"


def concert_of(token: str) -> int | None:
    head, dot, tail = token.partition(".")
    if not dot or not head.isdigit() or len(tail) < 16 or len(token) > 80:
        return None
    return int(head)


@dataclass(frozen=True, slots=True)
class TokenView:
    token: str
    status: str
    position: int | None
    user_id: int
    name: str
    deadline_ms: int
    admitted_last_10s: int
    created: bool = False


@dataclass(frozen=True, slots=True)
class TokenPeek:
    status: str
    user_id: int
    deadline_ms: int


@dataclass(frozen=True, slots=True)
class AdmissionTick:
    admitted: int
    expired: int
    dropped: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _view(raw: Any) -> TokenView | None:
    if not raw:
        return None
    token, status, position, user, name, deadline, recent = (_text(v) for v in raw[:7])
    return TokenView(
        token=token,
        status=status,
        position=int(position) if int(position) > 0 else None,
        user_id=int(user),
        name=name,
        deadline_ms=int(float(deadline)),
        admitted_last_10s=int(recent),
        created=len(raw) > 7 and int(raw[7]) == 1,
    )


class QueueStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._issue = redis.register_script(_ISSUE)
        self._info = redis.register_script(_INFO)
        self._finish = redis.register_script(_FINISH)
        self._admit = redis.register_script(_ADMIT)
        self._lease = redis.register_script(_LEASE)
        self._registered: dict[int, float] = {}  # concert id -> when this process last added it

    async def issue(
        self, concert_id: int, user_id: int, name: str, now_ms: int, grace_ms: int, retain_ms: int
    ) -> TokenView:
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            raw = await self._issue(
                keys=[p + "waiting"], args=[p, user_id, name, new_token(concert_id), now_ms, grace_ms, retain_ms]
            )
            await self._register(concert_id)
        view = _view(raw)
        assert view is not None
        return view

    async def _register(self, concert_id: int) -> None:
        """Make the concert known to the admission job (see ``REGISTER_EVERY_SECONDS``)."""
        now = time.monotonic()
        if now - self._registered.get(concert_id, -REGISTER_EVERY_SECONDS) >= REGISTER_EVERY_SECONDS:
            await self.redis.sadd(CONCERTS_KEY, concert_id)
            self._registered[concert_id] = now

    async def info(self, token: str, now_ms: int, grace_ms: int, retain_ms: int) -> TokenView | None:
        concert_id = concert_of(token)
        if concert_id is None:
            return None
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            return _view(await self._info(keys=[p + "waiting"], args=[p, token, now_ms, grace_ms, retain_ms]))

    async def peek(self, token: str) -> TokenPeek | None:
        """The guard's read: one HMGET, no script, no write."""
        concert_id = concert_of(token)
        if concert_id is None:
            return None
        with translate_redis_errors():
            status, user, deadline = await self.redis.hmget(f"{concert_prefix(concert_id)}t:{token}", "s", "u", "x")
        if status is None or user is None:
            return None
        return TokenPeek(_text(status), int(user), int(float(_text(deadline or b"0"))))

    async def finish(self, token: str, retain_ms: int) -> bool:
        concert_id = concert_of(token)
        if concert_id is None:
            return False
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            return bool(await self._finish(keys=[p + "waiting"], args=[p, token, retain_ms]))

    async def admit(
        self,
        concert_id: int,
        now_ms: int,
        *,
        max_active: int,
        rate: int,
        ttl_ms: int,
        grace_ms: int,
        retain_ms: int,
        batch: int,
    ) -> AdmissionTick:
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            admitted, expired, dropped = await self._admit(
                keys=[p + "waiting"], args=[p, now_ms, max_active, rate, ttl_ms, grace_ms, retain_ms, batch]
            )
        return AdmissionTick(int(admitted), int(expired), int(dropped))

    async def concerts(self) -> list[int]:
        with translate_redis_errors():
            members = await self.redis.smembers(CONCERTS_KEY)
        return sorted(int(_text(m)) for m in members)

    async def set_sold_out(self, concert_id: int, sold_out: bool) -> None:
        key = concert_prefix(concert_id) + "soldout"
        with translate_redis_errors():
            if sold_out:
                await self.redis.set(key, 1)
            else:
                await self.redis.delete(key)

    async def take_lease(self, concert_id: int, owner: str, ttl_ms: int) -> bool:
        """Take or renew the admitter lease; only its owner renews it."""
        with translate_redis_errors():
            return bool(await self._lease(keys=[concert_prefix(concert_id) + "lease"], args=[owner, ttl_ms]))

    async def stats(self, concert_id: int, now_ms: int) -> tuple[int, int, int, int, bool]:
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zcard(p + "waiting")
                pipe.zcard(p + "active")
                pipe.zcount(p + "adm", now_ms - 60000, "+inf")
                pipe.zcount(p + "adm", now_ms - 10000, "+inf")
                pipe.exists(p + "soldout")
                waiting, active, minute, recent, sold_out = await pipe.execute()
        return int(waiting), int(active), int(minute), int(recent), bool(sold_out)

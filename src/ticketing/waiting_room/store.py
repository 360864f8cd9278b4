"""The waiting room's Redis layout and every Redis command it sends.

The queue is a serving counter: a join takes an arrival number (``INCR``), the admitter advances
"admitted up to" over the waiters of lowest rank (the oldest, but in a fair start's pre-queue),
and every change a reader needs is appended to a per-concert event stream that each server
process tails into an in-process snapshot (``snapshot.py``). Polls and the read guards answer
from that snapshot; only joins, admissions, payments' "finish" and the write guards touch Redis.

Every key of one concert shares the hash tag ``{<concert_id>}`` and every script declares all of
them (``KEYS``), so the queue runs unchanged on a Redis Cluster. Per concert, ``wr:{c}:`` +

- ``epoch``    one generation of this queue (a random id set by the first join; it is in every
               token, so tokens of a queue Redis lost read as unknown)
- ``seq``      INCR counter: arrival numbers
- ``waiting``  ZSET seq -> seq: the waiters (position = ZRANK + 1, but in a drawn pre-queue)
- ``seen``     ZSET seq -> last poll (ms), written in batches by the server processes; waiters
               silent for the grace period are dropped
- ``active``   ZSET seq -> end of the choice window (ms): admitted fans who hold no seat yet. The
               admitter counts them against the seats left for sale, so it never admits more
               fans than there are seats to choose; one who holds nothing by the end of the
               window loses the place (``gone``), which goes to the next rank
- ``chosen``   ZSET seq -> end of the admission (ms): admitted fans who held a seat (moved here
               from ``active`` by the hold), kept until the admission's end or their payment
- ``choices``  INCR counter of the moves into ``chosen``: the admitter reads it before it counts
               the seats left in PostgreSQL, and its script takes off the fans who chose in between
               (their seats are gone but the count did not see it), so it never admits one too many
- ``adm``      ZSET seq -> admission time (ms) over the last minute: the rate window
- ``tok``      HASH seq -> "<status> <user>[ <active until ms>]"; status W(aiting), A(ctive),
               D(one: paid), E(xpired: admission ran out, or a silent waiter dropped)
- ``users``    HASH user -> "<seq>:<issued at ms>" of the user's live token (one per concert)
- ``soldout``  flag: no admissions, waiters are told SOLD_OUT
- ``paused``   flag: the operator paused the sale; no admissions, waiters keep their places
- ``samples``  LIST "<ms> <waiting> <active> <admitted in the last 10 s>", one every
               ``SAMPLE_SECONDS`` by the admitter, the last ``MAX_SAMPLES`` (the operator's chart)
- ``upto``     the highest rank admitted so far (the serving counter)
- ``admitted`` how many were admitted in all (for the achieved rate)
- ``steps``    ZSET "<upto>:<admitted>" -> time (ms): each admission tick, kept for
               active TTL + retention (a token's admission time, hence its deadline)
- ``gone``     ZSET seq -> rank: waiters dropped before their turn, and admitted fans whose
               choice window ended without a hold
- ``done``     ZSET seq -> rank: tokens finished by a payment
- ``floor``    ranks at or below it are forgotten (their steps were pruned)
- ``log``      STREAM of changes for the snapshots: a(dmitted) t u n, g(one) s, d(one) s, c(hose) s,
               s(old out) v, f(loor) u, q(ueue before the opening) o, o(pened: the draw) o p x;
               each entry carries ``i``, a gap-free counter (``logn``)
- ``lease``    the admitter's lease (one admitter per concert across processes)
- ``orphans``  SET "<epoch>.<seq>" of tokens of a lost queue (an earlier epoch) that a payment
               finished: such a token is honoured while its fan holds a seat (the hold proves
               the admission), once; kept for the retention period
- ``start``    the fair start (``fair_start.py``), absent for a plain FIFO queue: "<opens ms>"
               while fans join the pre-queue, "<opens ms> <P> <key>" once it was drawn (the P
               fans who arrived before the opening, ranked by the permutation under the key)
- ``drawkey``  "<key> <commitment>": the draw's key, fixed when the pre-queue began, and its
               published commitment (SHA-256 of the key); the key is revealed by the draw
- ``pow:<signature>`` a proof-of-work solution that bought a join (``kernel/challenge.py``), kept
               until its challenge expires: marked by the join script itself, in the batch's one
               call, so a solution is used once across every process

Ranks: the queue orders its fans by rank, which is the arrival number except in a drawn
pre-queue (arrival numbers 1..P, ranked by the permutation). ``waiting`` is scored by arrival
number; ``upto``, ``steps``, ``floor`` and the scores of ``gone`` and ``done`` are ranks.

``wr:concerts`` (a SET of concert ids with a queue) lets the admission job find the queues.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ticketing.kernel.deadline import RequestTimedOut
from ticketing.kernel.redis import RedisClient, translate_redis_errors
from ticketing.waiting_room import fair_start
from ticketing.waiting_room.fair_start import FairStart

CONCERTS_KEY = "wr:concerts"
# ``wr:concerts`` lives outside the concert's hash slot, so adding to it is a second round trip:
# each process does it at most this often per concert (often enough to survive a Redis restart).
REGISTER_EVERY_SECONDS = 5.0
# Stream entries kept per concert. A snapshot more than a few seconds behind re-reads the whole
# state instead of the stream (a gap in ``i`` tells it), so this only bounds memory.
LOG_MAX_ENTRIES = 100_000
# Seqs forgotten per admission tick at most (bounds the tick's work; the rest goes next tick).
PRUNE_BATCH = 20_000
# The same in a drawn pre-queue, where each rank's arrival number is computed (four SHA-1s).
PRE_QUEUE_PRUNE_BATCH = 1_000
# Ranks of a drawn pre-queue an admission tick walks at most. The ranks of waiters who left are
# skipped without computing anything (≈ 2 µs of Redis each, reading them from ``gone``; admitting
# one costs ≈ 20 µs), so 10 ticks/s walk 50,000 ranks/s: admission keeps 200/s until more than
# 99 % of the pre-queue vanished, and a tick holds Redis for a few ms at most.
PRE_QUEUE_SCAN = 5_000

# The queue's figures kept for the operator's chart: one sample every 5 s for the last 2 hours.
SAMPLE_SECONDS = 5.0
MAX_SAMPLES = 1440

KEY_NAMES = (
    "epoch", "seq", "waiting", "seen", "active", "adm", "tok", "users", "soldout",
    "upto", "admitted", "steps", "gone", "done", "floor", "log", "logn", "lease", "orphans", "start",
    "chosen", "drawkey", "choices", "paused",
)  # fmt: skip

# The helpers every script may call; each script declares only the keys it uses (``KEYS``), and
# ``K.<name>`` maps those names to them. A helper whose keys a script does not declare is never
# called by that script.
_HELPERS = (
    fair_start.LUA
    + f"""
local function emit(fields)
  local i = redis.call('INCR', K.logn)
  table.insert(fields, 'i')
  table.insert(fields, i)
  redis.call('XADD', K.log, 'MAXLEN', '~', {LOG_MAX_ENTRIES}, '*', unpack(fields))
end
"""
    + """
local function forget_user(user, seq)
  local mine = redis.call('HGET', K.users, user)
  if mine and string.match(mine, '^(%d+):') == tostring(seq) then
    redis.call('HDEL', K.users, user)
  end
end
local function write_seen(from)
  for i = from, #ARGV, 200 do
    local args = {}
    for j = i, math.min(i + 199, #ARGV) do table.insert(args, ARGV[j]) end
    redis.call('ZADD', K.seen, 'XX', unpack(args))
  end
end
-- The queue's fair start (nil: a plain FIFO queue); size and key are nil until the draw.
local function fair_start()
  local value = redis.call('GET', K.start)
  if not value then return nil end
  local opens, size, key = string.match(value, '^(%d+) (%d+) (%S+)$')
  if opens then return {opens = tonumber(opens), size = tonumber(size), key = key} end
  return {opens = tonumber(value)}
end
-- The opening: the pre-queue is every fan who arrived so far, ranked under the key committed to
-- when the pre-queue began (``offered``, a fresh one, only for a queue that has none).
local function draw(fs, offered)
  local committed = redis.call('GET', K.drawkey)
  local key = offered
  if committed then key = string.match(committed, '^(%S+)') end
  fs.size, fs.key = tonumber(redis.call('GET', K.seq) or '0'), key
  redis.call('SET', K.start, fs.opens .. ' ' .. fs.size .. ' ' .. key)
  emit({'k', 'o', 'o', fs.opens, 'p', fs.size, 'x', key})
end
-- A waiter's place: 1 + the waiters of lower rank. Before the draw nobody has a rank yet: the
-- pessimistic answer is the pre-queue's size.
local function position(fs, seq)
  if fs and not fs.size then return tonumber(redis.call('GET', K.seq)) end
  if fs and seq <= fs.size then
    local r = rank_of(fs, seq)
    local upto = tonumber(redis.call('GET', K.upto) or '0')
    return r - upto - redis.call('ZCOUNT', K.gone, '(' .. upto, '(' .. r)
  end
  local r = redis.call('ZRANK', K.waiting, seq)
  if r then return r + 1 end
  return 0
end
"""
)


@dataclass(frozen=True, slots=True)
class _Lua:
    keys: tuple[str, ...]  # the names (``KEY_NAMES``) of the keys the script uses, in KEYS order
    source: str


def _lua(keys: str, body: str) -> _Lua:
    """A script over the named keys. ``#!lua`` (Redis 7+, Valkey): the server itself refuses a key
    outside the script's slot, so an undeclared key of another concert could not slip through."""
    names = tuple(keys.split())
    assert set(names) <= set(KEY_NAMES), names
    mapping = "".join(f"K['{name}'] = KEYS[{i}]\n" for i, name in enumerate(names, start=1))
    return _Lua(names, "#!lua\nlocal K = {}\n" + mapping + _HELPERS + body)


# Joins, several at once (ARGV: new epoch, the sale's opening in ms or 0, a fresh draw key and its
# commitment ("<key> <sha256 of key>"), then user, time, the request's deadline (Unix ms, 0:
# none) and how long to remember its proof-of-work solution (ms, 0: it carries none) per join, in
# arrival order; KEYS: the script's own, then the ``pow:<signature>`` key of each join that
# carries a solution, in the same order): each gets the user's live token, or a new arrival number
# at the back of the line; a join whose deadline passed by Redis' clock gets nothing (status L:
# late), so a client process that stalled with it cannot issue it when it resumes, and neither
# does one whose solution bought a join before (status R: reused; the gate's single-use mark is
# set here, not by a command of its own). One script call per batch: under load the per-command
# cost of the client is paid once for many joins. A queue
# whose sale opens later and that admitted nobody yet takes the opening (a pre-queue) and commits
# to the key of its draw (kept if the opening moves earlier); the first join at or after the
# opening draws the pre-queue's order.
_ISSUE_KEYS = "epoch users tok seen waiting seq start upto gone log logn drawkey"
_ISSUE = _lua(
    _ISSUE_KEYS,
    f"""
local marked = {len(_ISSUE_KEYS.split())}  -- the KEYS index of the last solution's key taken
"""
    + """
local clock = redis.call('TIME')
local redis_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local epoch = redis.call('GET', K.epoch)
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', K.epoch, epoch)
end
local fs = fair_start()
local opening = tonumber(ARGV[2])
if opening > 0 and (fs and not fs.size and opening < fs.opens
    or not fs and opening > tonumber(ARGV[5]) and redis.call('EXISTS', K.upto) == 0) then
  fs = {opens = opening}  -- a pre-queue, or a date that opens sooner was added
  redis.call('SET', K.start, opening)
  redis.call('SET', K.drawkey, ARGV[3], 'NX')
  emit({'k', 'q', 'o', opening})
end
local function join(user, now, due, mark)
  local solution = nil
  if mark > 0 then
    marked = marked + 1
    solution = KEYS[marked]
  end
  if due > 0 and redis_ms >= due then return {0, 0, 0, 'L', 0, 0, 0} end
  if solution and not redis.call('SET', solution, '1', 'PX', mark, 'NX') then return {0, 0, 0, 'R', 0, 0, 0} end
  if fs and not fs.size and now >= fs.opens then draw(fs, string.match(ARGV[3], '^(%S+)')) end
  local pre = 0
  if fs and not fs.size then pre = 1 end
  local mine = redis.call('HGET', K.users, user)
  if mine then
    local seq, issued = string.match(mine, '^(%d+):(%d+)$')
    local rec = redis.call('HGET', K.tok, seq)
    if rec then
      local st = string.sub(rec, 1, 1)
      if st == 'W' then
        redis.call('ZADD', K.seen, 'XX', now, seq)
        return {0, seq, issued, 'W', position(fs, tonumber(seq)), 0, pre}
      elseif st == 'A' then
        local deadline = tonumber(string.match(rec, '^A %d+ (%d+)$'))
        if deadline > now then return {0, seq, issued, 'A', 0, deadline, 0} end
      end
    end
  end
  local seq = redis.call('INCR', K.seq)
  redis.call('HSET', K.tok, seq, 'W ' .. user)
  redis.call('ZADD', K.waiting, seq, seq)
  redis.call('ZADD', K.seen, now, seq)
  redis.call('HSET', K.users, user, seq .. ':' .. now)
  return {1, seq, now, 'W', position(fs, seq), 0, pre}
end
local out = {epoch, 0}
for i = 4, #ARGV, 4 do
  local answer = join(ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
  for _, value in ipairs(answer) do table.insert(out, value) end
end
if fs then out[2] = fs.opens end
return out
""",
)

# A payment finished the token (ARGV: seq, the token's epoch, retention ms). A token of a lost
# queue is only remembered as finished: its number means another fan's token in this epoch.
_FINISH = _lua(
    "epoch orphans tok active chosen waiting seen done users log logn start",
    """
local seq, epoch = ARGV[1], ARGV[2]
if redis.call('GET', K.epoch) ~= epoch then
  redis.call('SADD', K.orphans, epoch .. '.' .. seq)
  redis.call('PEXPIRE', K.orphans, ARGV[3])
  return 1
end
local rec = redis.call('HGET', K.tok, seq)
if not rec then return 0 end
local st, user = string.match(rec, '^(%a) (%d+)')
if st == 'D' then return 1 end
redis.call('HSET', K.tok, seq, 'D ' .. user)
redis.call('ZREM', K.active, seq)
redis.call('ZREM', K.chosen, seq)
redis.call('ZREM', K.waiting, seq)
redis.call('ZREM', K.seen, seq)
redis.call('ZADD', K.done, rank_of(fair_start(), tonumber(seq)), seq)
forget_user(user, seq)
emit({'k', 'd', 's', seq})
return 1
""",
)

# One admission tick: end the choice windows that ran out without a hold (the place goes to the
# next rank) and the admissions past their life, drop waiters who stopped polling, forget what is
# older than TTL + retention, then admit the waiters of lowest rank while (a) fewer than
# max_active are admitted, (b) the admitted fans who hold nothing yet are fewer than the seats
# left for sale (ARGV[10], the inventory, counted after ``choices`` read ARGV[11]; -1: unknown, no
# such bound), so that everyone admitted has a seat to choose however long they take within their
# window, and (c) fewer than `rate` were
# admitted in the last 1000 ms (a sliding window, so no second ever exceeds it). A pre-queue admits
# nobody before its opening; the first tick at or after it draws the order (under the committed
# key; ARGV[8] only for a queue without one), and nobody who waited for it is dropped as silent
# before a grace period after it.
_ADMIT = _lua(
    "active chosen tok users seen waiting gone log logn steps floor done adm soldout upto admitted start seq drawkey "
    "choices paused",
    f"""
local now, max_active, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl, grace, retain, batch = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local choice, inventory = tonumber(ARGV[9]), tonumber(ARGV[10])
if inventory >= 0 then
  -- Fans who chose since the inventory was counted: their seats may be missing from the count.
  inventory = inventory - (tonumber(redis.call('GET', K.choices) or '0') - tonumber(ARGV[11]))
end
local fs = fair_start()
if fs and not fs.size and now >= fs.opens then draw(fs, ARGV[8]) end
local function finish_as(seq, expected, status)
  local rec = redis.call('HGET', K.tok, seq)
  if rec and string.sub(rec, 1, 1) == expected then
    local user = string.match(rec, '^%a (%d+)')
    redis.call('HSET', K.tok, seq, status .. ' ' .. user)
    forget_user(user, seq)
  end
end
local lapsed = redis.call('ZRANGEBYSCORE', K.active, '-inf', now, 'LIMIT', 0, 1000)
for _, s in ipairs(lapsed) do
  finish_as(s, 'A', 'E')
  redis.call('ZREM', K.active, s)
  redis.call('ZADD', K.gone, rank_of(fs, tonumber(s)), s)
end
if #lapsed > 0 then emit({{'k', 'g', 's', table.concat(lapsed, ',')}}) end
local expired = redis.call('ZRANGEBYSCORE', K.chosen, '-inf', now, 'LIMIT', 0, 1000)
for _, s in ipairs(expired) do
  finish_as(s, 'A', 'E')
  redis.call('ZREM', K.chosen, s)
end
local silent = {{}}
if not fs or now - grace >= fs.opens then
  silent = redis.call('ZRANGEBYSCORE', K.seen, '-inf', now - grace, 'LIMIT', 0, 1000)
end
for _, s in ipairs(silent) do
  finish_as(s, 'W', 'E')
  redis.call('ZREM', K.waiting, s)
  redis.call('ZREM', K.seen, s)
  redis.call('ZADD', K.gone, rank_of(fs, tonumber(s)), s)
end
if #silent > 0 then emit({{'k', 'g', 's', table.concat(silent, ',')}}) end
local old = redis.call('ZRANGEBYSCORE', K.steps, '-inf', now - ttl - retain, 'LIMIT', 0, 100)
if #old > 0 then
  local floor = tonumber(redis.call('GET', K.floor) or '0')
  local target = floor
  for _, m in ipairs(old) do
    local u = tonumber(string.match(m, '^(%d+):'))
    if u > target then target = u end
  end
  local most = {PRUNE_BATCH}
  if fs and fs.size and floor < fs.size then most = {PRE_QUEUE_PRUNE_BATCH} end
  target = math.min(target, floor + most)
  for r = floor + 1, target do redis.call('HDEL', K.tok, seq_at(fs, r)) end
  for _, m in ipairs(old) do
    if tonumber(string.match(m, '^(%d+):')) <= target then redis.call('ZREM', K.steps, m) end
  end
  redis.call('ZREMRANGEBYSCORE', K.gone, '-inf', target)
  redis.call('ZREMRANGEBYSCORE', K.done, '-inf', target)
  redis.call('SET', K.floor, target)
  emit({{'k', 'f', 'u', target}})
end
redis.call('ZREMRANGEBYSCORE', K.adm, '-inf', now - 60000)
if redis.call('EXISTS', K.soldout) == 1 then return {{0, #expired + #lapsed, #silent}} end
if redis.call('EXISTS', K.paused) == 1 then return {{0, #expired + #lapsed, #silent}} end
if fs and not fs.size then return {{0, #expired + #lapsed, #silent}} end  -- before the opening
local choosing = redis.call('ZCARD', K.active)
local free = max_active - choosing - redis.call('ZCARD', K.chosen)
if inventory >= 0 then free = math.min(free, inventory - choosing) end
local allowance = rate - redis.call('ZCOUNT', K.adm, now - 999, '+inf')
local n = math.min(free, allowance, batch)
local upto = tonumber(redis.call('GET', K.upto) or '0')
local admitted, top = 0, upto
local function admit(s)
  redis.call('ZREM', K.seen, s)
  local rec = redis.call('HGET', K.tok, s)
  if rec and string.sub(rec, 1, 1) == 'W' then
    redis.call('HSET', K.tok, s, 'A ' .. string.match(rec, '^W (%d+)') .. ' ' .. (now + ttl))
    redis.call('ZADD', K.active, now + choice, s)
    redis.call('ZADD', K.adm, now, s)
    admitted = admitted + 1
    n = n - 1
  end
end
-- A drawn pre-queue, rank after rank: every rank above upto is a waiter unless it left (the
-- ranks in gone, skipped in sorted batches without computing anything).
if fs and fs.size and top < fs.size then
  local scan, left, g = {PRE_QUEUE_SCAN}, {{}}, 1
  local function more_left()
    local got = redis.call('ZRANGEBYSCORE', K.gone, '(' .. top, fs.size, 'WITHSCORES', 'LIMIT', 0, 1000)
    left, g = {{}}, 1
    for i = 2, #got, 2 do table.insert(left, tonumber(got[i])) end
  end
  more_left()
  while n > 0 and top < fs.size and scan > 0 do
    if g > #left and #left == 1000 then more_left() end
    top = top + 1
    scan = scan - 1
    if left[g] == top then
      g = g + 1
    else
      local s = seq_at(fs, top)
      redis.call('ZREM', K.waiting, s)
      admit(s)
    end
  end
end
-- Then (or in a plain queue) by arrival number, which is the rank from here on.
if not fs or top >= fs.size then
  while n > 0 do
    local popped = redis.call('ZPOPMIN', K.waiting, n)
    if #popped == 0 then break end
    for i = 1, #popped, 2 do
      local s = popped[i]
      admit(s)
      if tonumber(s) > top then top = tonumber(s) end
    end
  end
end
if top > upto then
  redis.call('SET', K.upto, top)
  local total = redis.call('INCRBY', K.admitted, admitted)
  redis.call('ZADD', K.steps, now, top .. ':' .. total)
  emit({{'k', 'a', 't', now, 'u', top, 'n', total}})
end
return {{admitted, #expired + #lapsed, #silent}}
""",
)

# A hold succeeded (ARGV: seq, the token's epoch): the fan chose, so their place no longer counts
# against the seats left, and it lasts the admission's full life (``chosen``) instead of ending
# with the choice window. Once per token; nothing for a token that is not active in this epoch.
_CHOSE = _lua(
    "epoch tok active chosen log logn choices",
    """
if redis.call('GET', K.epoch) ~= ARGV[2] then return 0 end
local rec = redis.call('HGET', K.tok, ARGV[1])
if not rec or string.sub(rec, 1, 1) ~= 'A' then return 0 end
if redis.call('ZREM', K.active, ARGV[1]) == 0 then return 0 end
redis.call('ZADD', K.chosen, tonumber(string.match(rec, '^A %d+ (%d+)$')), ARGV[1])
redis.call('INCR', K.choices)
emit({'k', 'c', 's', ARGV[1]})
return 1
""",
)

# The queue's two on/off flags, each change logged so every process's view (hence the waiting
# fans' page) learns of it with its next sync (ARGV: the entry kind, "s" sold out or "p" paused,
# then "1" or "0"). The operator's pause is the key the admission script reads, so an admission
# tick runs wholly before it (and may admit) or wholly after it (and admits none).
_FLAG = _lua(
    "soldout paused log logn",
    """
local key = K.soldout
if ARGV[1] == 'p' then key = K.paused end
local flag = ARGV[2]
local was = redis.call('EXISTS', key)
if flag == '1' then redis.call('SET', key, 1) else redis.call('DEL', key) end
if (flag == '1') ~= (was == 1) then emit({'k', ARGV[1], 'v', flag}) end
return 1
""",
)

# A process's first look at a queue (or after it fell behind the stream): write its waiters'
# last-poll times (ARGV: time, seq, ...; only those still waiting: XX), then the whole state and
# the stream position it corresponds to, in one atomic read.
_SNAPSHOT = _lua(
    "seen log epoch soldout upto floor steps gone done logn start seq chosen paused",
    """
write_seen(1)
local last = redis.call('XREVRANGE', K.log, '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
return {
  redis.call('GET', K.epoch) or '',
  redis.call('EXISTS', K.soldout),
  redis.call('GET', K.upto) or '0',
  redis.call('GET', K.floor) or '0',
  redis.call('ZRANGE', K.steps, 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', K.gone, 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', K.done, 0, -1, 'WITHSCORES'),
  redis.call('GET', K.logn) or '0',
  last_id,
  redis.call('GET', K.start) or '',
  redis.call('GET', K.seq) or '0',
  redis.call('ZRANGE', K.chosen, 0, -1),
  redis.call('EXISTS', K.paused),
}
""",
)

# A process catching up: write its waiters' last-poll times as above, then read the changes
# since its position in the stream (and the arrivals so far: a pre-queue's size).
_SYNC = _lua(
    "seen epoch log seq",
    """
local last_id, count = ARGV[1], tonumber(ARGV[2])
write_seen(3)
return {
  redis.call('GET', K.epoch) or '',
  redis.call('XRANGE', K.log, '(' .. last_id, '+', 'COUNT', count),
  redis.call('GET', K.seq) or '0',
}
""",
)

# The write guard's read, in one round trip: the queue's epoch, the token's record, and whether
# the token (of a lost queue) was finished as an orphan (ARGV: seq, "<token epoch>.<seq>").
_PEEK = _lua(
    "epoch tok orphans",
    """
return {
  redis.call('GET', K.epoch) or '',
  redis.call('HGET', K.tok, ARGV[1]) or '',
  redis.call('SISMEMBER', K.orphans, ARGV[2]),
}
""",
)

_LEASE = _lua(
    "lease",
    """
local current = redis.call('GET', K.lease)
if current == ARGV[1] then
  redis.call('PEXPIRE', K.lease, ARGV[2])
  return 1
end
if not current then
  redis.call('SET', K.lease, ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
""",
)


def concert_prefix(concert_id: int) -> str:
    return f"wr:{{{concert_id}}}:"


@functools.lru_cache(maxsize=4096)
def concert_keys(concert_id: int, names: tuple[str, ...] = KEY_NAMES) -> list[str]:
    """The named keys of the concert's queue (a script's ``KEYS``), made once per concert and
    script (callers never mutate the list)."""
    prefix = concert_prefix(concert_id)
    return [prefix + name for name in names]


def _pairs(seen: dict[int, int]) -> list[int]:
    """ZADD's argument order: score (the poll's time), member (the seq)."""
    return [value for seq, at_ms in seen.items() for value in (at_ms, seq)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ranked(flat: list[Any]) -> dict[int, int]:
    """A ZSET of seq -> rank read WITHSCORES (member, score, member, score, ...)."""
    return {int(seq): int(float(rank)) for seq, rank in zip(flat[::2], flat[1::2], strict=True)}


# A join's proof-of-work solution for the join script's single-use mark: its signature, and how
# long to remember it (ms).
Solution = tuple[str, int]


class SolutionUsedBefore(Exception):
    """A join's proof-of-work solution bought a join before: this one changed nothing."""


@dataclass(frozen=True, slots=True)
class Joined:
    """A join's answer: the fan's live token (new or the one they already had)."""

    created: bool
    seq: int
    issued_at_ms: int
    status: str  # "WAITING" | "ACTIVE"
    position: int | None  # before the draw of a pre-queue: the pre-queue's size
    epoch: str
    deadline_ms: int
    sale_opens_ms: int = 0  # the opening of a queue with a fair start (0: a plain FIFO queue)
    pre_queue: bool = False  # waiting for the draw: no rank yet


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """The write guard's view of one token, straight from Redis."""

    epoch: str  # the queue's current epoch ("" when Redis has no queue)
    status: str  # W, A, D, E; "" when Redis has no record
    user_id: int
    deadline_ms: int
    orphan_finished: bool  # a token of a lost queue that a payment already finished


@dataclass(frozen=True, slots=True)
class AdmissionTick:
    admitted: int
    expired: int
    dropped: int


@dataclass(frozen=True, slots=True)
class FullState:
    epoch: str
    sold_out: bool
    upto: int
    floor: int
    steps: list[tuple[int, int, int]]  # (time ms, upto, admitted in all), oldest first
    gone: dict[int, int]  # seq -> rank
    done: dict[int, int]  # seq -> rank
    log_index: int
    last_id: str
    start: FairStart | None
    arrivals: int
    chosen: list[int]  # seqs of the admitted fans who held a seat
    paused: bool = False  # the operator paused admission


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """A queue's fair start as the public may see it: the opening, the commitment to the draw's
    key (before the draw), and once drawn the pre-queue's size and the key."""

    opens_ms: int | None  # None: no pre-queue (a plain FIFO queue, or no queue yet)
    commitment: str | None
    size: int | None
    key: str | None


Event = tuple[str, dict[str, str]]  # (stream id, fields)

_STATUS = {"W": "WAITING", "A": "ACTIVE"}


class _ScriptCall(Protocol):
    def __call__(
        self, concert_id: int, args: Sequence[str | int] = (), more_keys: Sequence[str] = ()
    ) -> Awaitable[Any]: ...


class QueueStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._sources: list[str] = []
        self._loaded = False
        self._loading = asyncio.Lock()
        self._issue = self._script(_ISSUE)
        self._finish = self._script(_FINISH)
        self._admit = self._script(_ADMIT)
        self._flag = self._script(_FLAG)
        self._snapshot = self._script(_SNAPSHOT)
        self._sync = self._script(_SYNC)
        self._peek = self._script(_PEEK)
        self._chose = self._script(_CHOSE)
        self._lease = self._script(_LEASE)
        self._registered: dict[int, float] = {}  # concert id -> when this process last added it

    def _script(self, lua: _Lua) -> _ScriptCall:
        """The script, run on one concert's keys (and ``more_keys``, of the same slot, after them).
        Its first call loads every script once: without that, a burst of first calls each get
        NOSCRIPT and each load it again (on a Redis Cluster, a thousand at once made the nodes
        drop connections)."""
        script = self.redis.register_script(lua.source)
        self._sources.append(lua.source)

        async def call(concert_id: int, args: Sequence[str | int] = (), more_keys: Sequence[str] = ()) -> Any:
            if not self._loaded:
                async with self._loading:
                    if not self._loaded:
                        for text in self._sources:
                            await self.redis.script_load(text)
                        self._loaded = True
            keys = concert_keys(concert_id, lua.keys)
            return await script(keys=[*keys, *more_keys] if more_keys else keys, args=args)

        return call

    async def issue(
        self,
        concert_id: int,
        joins: Sequence[tuple[int, int, int]],
        new_epoch: str,
        *,
        opens_ms: int = 0,
        draw_key: str = "",
        solutions: Sequence[Solution | None] = (),
    ) -> list[Joined | RequestTimedOut | SolutionUsedBefore]:
        """Joins of one concert's queue, (user id, time ms, the request's deadline in Unix ms or
        0) each, in arrival order: one answer each, in the same order; a join past its deadline
        by Redis' clock is answered ``RequestTimedOut`` and changed nothing. ``new_epoch`` starts
        the queue's generation if it has none; ``opens_ms`` is the sale's opening as the caller
        knows it (0: none), ``draw_key`` the key of the pre-queue's draw should one of these
        joins be the first at or after the opening (and the queue have no committed key).
        ``solutions``: for each join (none when empty), the proof-of-work solution it carries
        (its signature, and how long to remember it), or None: a solution that bought a join
        before is answered ``SolutionUsedBefore`` and changed nothing; else it is marked used."""
        key = draw_key or fair_start.new_draw_key()
        args: list[str | int] = [new_epoch, opens_ms, f"{key} {fair_start.commitment(key)}"]
        marks: list[str] = []
        for (user_id, now_ms, due_ms), solution in zip(joins, solutions or [None] * len(joins), strict=True):
            if solution is None:
                args += [user_id, now_ms, due_ms, 0]
            else:
                args += [user_id, now_ms, due_ms, max(1, solution[1])]
                marks.append(f"{concert_prefix(concert_id)}pow:{solution[0]}")
        with translate_redis_errors():
            raw = await self._issue(concert_id, args, marks)
            await self._register(concert_id)
        epoch, opens = _text(raw[0]), int(raw[1])
        return [
            RequestTimedOut()
            if (code := _text(status)) == "L"
            else SolutionUsedBefore()
            if code == "R"
            else Joined(
                created=int(created) == 1,
                seq=int(seq),
                issued_at_ms=int(issued),
                status=_STATUS[code],
                position=int(position) or None,
                epoch=epoch,
                deadline_ms=int(deadline),
                sale_opens_ms=opens,
                pre_queue=int(pre) == 1,
            )
            for created, seq, issued, status, position, deadline, pre in zip(*[iter(raw[2:])] * 7, strict=True)
        ]

    async def _register(self, concert_id: int) -> None:
        """Make the concert known to the admission job (see ``REGISTER_EVERY_SECONDS``)."""
        now = time.monotonic()
        if now - self._registered.get(concert_id, -REGISTER_EVERY_SECONDS) >= REGISTER_EVERY_SECONDS:
            await self.redis.sadd(CONCERTS_KEY, concert_id)
            self._registered[concert_id] = now

    async def peek(self, concert_id: int, seq: int, token_epoch: str) -> TokenRecord:
        with translate_redis_errors():
            epoch, record, orphan_finished = await self._peek(concert_id, [seq, f"{token_epoch}.{seq}"])
        fields = _text(record).split(" ")
        finished = int(orphan_finished) == 1
        if len(fields) < 2:
            return TokenRecord(_text(epoch), "", 0, 0, finished)
        deadline = int(fields[2]) if len(fields) > 2 else 0
        return TokenRecord(_text(epoch), fields[0], int(fields[1]), deadline, finished)

    async def finish(self, concert_id: int, seq: int, token_epoch: str, retain_ms: int) -> bool:
        with translate_redis_errors():
            return bool(await self._finish(concert_id, [seq, token_epoch, retain_ms]))

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
        draw_key: str = "",
        choice_ms: int | None = None,
        inventory: int | None = None,
        choices_before: int = 0,
    ) -> AdmissionTick:
        """``draw_key``: the key of a pre-queue's draw, should this tick be the first at or after
        the opening and the queue have no committed key. ``choice_ms``: how long an admitted fan
        may take to hold a seat (default: the whole ``ttl_ms``); ``inventory``: the seats left
        for sale (None: unknown, admission bounded by ``max_active`` and ``rate`` alone), counted
        after ``choices`` answered ``choices_before``."""
        key = draw_key or fair_start.new_draw_key()
        choice = ttl_ms if choice_ms is None else min(choice_ms, ttl_ms)
        stock = -1 if inventory is None else max(0, inventory)
        with translate_redis_errors():
            admitted, expired, dropped = await self._admit(
                concert_id,
                [now_ms, max_active, rate, ttl_ms, grace_ms, retain_ms, batch, key, choice, stock, choices_before],
            )
        return AdmissionTick(int(admitted), int(expired), int(dropped))

    async def choices(self, concert_id: int) -> int:
        """How many fans of the queue chose so far (read before counting the seats left)."""
        with translate_redis_errors():
            return int(await self.redis.get(concert_prefix(concert_id) + "choices") or 0)

    async def chose(self, concert_id: int, seq: int, token_epoch: str) -> bool:
        """The token's fan held a seat: their place now lasts the admission's life."""
        with translate_redis_errors():
            return bool(await self._chose(concert_id, [seq, token_epoch]))

    async def draw_record(self, concert_id: int) -> DrawRecord:
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(p + "start")
                pipe.get(p + "drawkey")
                start, drawkey = await pipe.execute()
        fs = FairStart.parse(_text(start or b""))
        if fs is None:
            return DrawRecord(None, None, None, None)
        committed = _text(drawkey or b"").split(" ")
        commitment = committed[1] if len(committed) == 2 else None
        if fs.draw is None:
            return DrawRecord(fs.opens_ms, commitment, None, None)
        return DrawRecord(fs.opens_ms, commitment, fs.draw.size, fs.draw.key)

    async def set_sold_out(self, concert_id: int, sold_out: bool) -> None:
        with translate_redis_errors():
            await self._flag(concert_id, ["s", "1" if sold_out else "0"])

    async def set_paused(self, concert_id: int, paused: bool) -> None:
        """The operator's pause (``_FLAG``): the flag the admission script reads, and a stream
        entry so the processes' views tell the waiting fans."""
        with translate_redis_errors():
            await self._flag(concert_id, ["p", "1" if paused else "0"])

    async def full_state(self, concert_id: int, seen: dict[int, int]) -> FullState:
        """Write the waiters' last-poll times (seq -> ms) and read the whole state."""
        with translate_redis_errors():
            raw = await self._snapshot(concert_id, _pairs(seen))
        epoch, sold_out, upto, floor, steps, gone, done, log_index, last_id, start, arrivals, chosen, paused = raw
        parsed_steps = []
        for member, score in zip(steps[::2], steps[1::2], strict=True):
            step_upto, _, total = _text(member).partition(":")
            parsed_steps.append((int(float(score)), int(step_upto), int(total)))
        return FullState(
            epoch=_text(epoch),
            sold_out=int(sold_out) == 1,
            upto=int(upto),
            floor=int(floor),
            steps=parsed_steps,
            gone=_ranked(gone),
            done=_ranked(done),
            log_index=int(log_index),
            last_id=_text(last_id),
            start=FairStart.parse(_text(start)),
            arrivals=int(arrivals),
            chosen=[int(_text(seq)) for seq in chosen],
            paused=int(paused) == 1,
        )

    async def changes(
        self, concert_id: int, after_id: str, seen: dict[int, int], count: int = 5000
    ) -> tuple[str, int, list[Event]]:
        """Write the waiters' last-poll times and read the stream after ``after_id``:
        (the queue's epoch, the arrivals so far, [(entry id, fields)])."""
        with translate_redis_errors():
            epoch, entries, arrivals = await self._sync(concert_id, [after_id, count, *_pairs(seen)])
        events = []
        for entry_id, flat in entries:
            values = [_text(v) for v in flat]
            events.append((_text(entry_id), dict(zip(values[::2], values[1::2], strict=True))))
        return _text(epoch), int(arrivals), events

    async def concerts(self) -> list[int]:
        with translate_redis_errors():
            members = await self.redis.smembers(CONCERTS_KEY)
        return sorted(int(_text(m)) for m in members)

    async def take_lease(self, concert_id: int, owner: str, ttl_ms: int) -> bool:
        """Take or renew the admitter lease; only its owner renews it."""
        with translate_redis_errors():
            return bool(await self._lease(concert_id, [owner, ttl_ms]))

    async def add_sample(self, concert_id: int, now_ms: int, waiting: int, active: int, recent: int) -> None:
        key = concert_prefix(concert_id) + "samples"
        with translate_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.rpush(key, f"{now_ms} {waiting} {active} {recent}")
                pipe.ltrim(key, -MAX_SAMPLES, -1)
                await pipe.execute()

    async def samples(self, concert_id: int) -> list[tuple[int, int, int, int]]:
        """The kept samples, oldest first: (ms, waiting, active, admitted in the last 10 s)."""
        with translate_redis_errors():
            raw = await self.redis.lrange(concert_prefix(concert_id) + "samples", 0, -1)
        samples = []
        for entry in raw:
            at, waiting, active, recent = (int(part) for part in entry.split())
            samples.append((at, waiting, active, recent))
        return samples

    async def stats(self, concert_id: int, now_ms: int) -> tuple[int, int, int, int, bool, bool]:
        p = concert_prefix(concert_id)
        with translate_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zcard(p + "waiting")
                pipe.zcard(p + "active")
                pipe.zcount(p + "adm", now_ms - 60000, "+inf")
                pipe.zcount(p + "adm", now_ms - 10000, "+inf")
                pipe.exists(p + "soldout")
                pipe.exists(p + "paused")
                waiting, active, minute, recent, sold_out, paused = await pipe.execute()
        return int(waiting), int(active), int(minute), int(recent), bool(sold_out), bool(paused)

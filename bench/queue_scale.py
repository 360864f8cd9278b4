"""Queue scale: join and poll cost with 1,000 vs 1,000,000 fans waiting in one concert's queue.

    uv run python -m bench.queue_scale [--sizes 1000,1000000] [--ops 2000]

A join is one Lua script (``INCR``, the token's record, ``ZADD``, ``ZRANK``: O(log n)); a poll
verifies the token's signature and reads the process's view of the queue (``bisect``: O(log n)
in the waiters who left, no Redis at all). Neither should grow with the queue. This measures both
against a real Redis-compatible server (embedded Valkey, or REDIS_URL — whose database it
flushes), and how long a process takes to read a queue's whole state when it first sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from ticketing.config import Settings
from ticketing.devservers.embedded import EmbeddedRedis
from ticketing.kernel.redis import create_redis
from ticketing.waiting_room.snapshot import QueueViews
from ticketing.waiting_room.store import Joined, QueueStore, concert_keys
from ticketing.waiting_room.tokens import QueueTokenCodec

_FILL = """#!lua
local tok, waiting, seen, seq, epoch = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local first, count, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = first, first + count - 1 do
  redis.call('HSET', tok, i, 'W ' .. (1000000000 + i))
  redis.call('ZADD', waiting, i, i)
  redis.call('ZADD', seen, now, i)
end
redis.call('SET', seq, first + count - 1)
redis.call('SET', epoch, 'e0e0e0e0')
return count
"""


async def measure(redis_url: str, sizes: list[int], ops: int) -> list[tuple[int, float, float]]:
    settings = Settings(
        env="local",
        redis_url=redis_url,
        database_url="postgresql://unused/x",
        data_dir=Path(tempfile.mkdtemp()),
        redis_timeout_seconds=30,  # filling a million waiters takes a while per script
    )
    redis = create_redis(settings)
    store = QueueStore(redis)
    codec = QueueTokenCodec(settings.jwt_secret)
    fill = redis.register_script(_FILL)
    results = []
    try:
        await redis.flushdb()
        for concert_id, size in enumerate(sizes, start=1):
            keys = dict(zip(("epoch", "seq", "waiting", "seen", "tok"), [""] * 5, strict=True))
            for key in concert_keys(concert_id):
                name = key.rsplit(":", 1)[1]
                if name in keys:
                    keys[name] = key
            now = int(time.time() * 1000)
            for first in range(1, size + 1, 20_000):
                await fill(
                    keys=[keys["tok"], keys["waiting"], keys["seen"], keys["seq"], keys["epoch"]],
                    args=[first, min(20_000, size + 1 - first), now],
                )
            started = time.perf_counter()
            issued = [(await store.issue(concert_id, [(2_000_000_000 + i, now, 0)], "unused"))[0] for i in range(ops)]
            joined = [j for j in issued if isinstance(j, Joined)]  # no deadline: every join is answered
            issue_us = (time.perf_counter() - started) / ops * 1e6
            tokens = [
                codec.encode(concert_id, j.epoch, j.seq, 2_000_000_000 + i, now // 1000, "probe")
                for i, j in enumerate(joined)
            ]
            views = QueueViews(store)
            started = time.perf_counter()
            view = await views.get(concert_id, max_age=60)
            sync_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            for raw in tokens:
                token = codec.decode(raw)
                assert token is not None
                standing = view.standing(token.seq, now, 600_000, 600_000)
                assert standing is not None and standing.position is not None and standing.position > size
            poll_us = (time.perf_counter() - started) / ops * 1e6
            results.append((size, issue_us, poll_us))
            print(
                f"queue of {size:>9,} waiting: join {issue_us:7.1f} µs/op (one Redis script), "
                f"poll {poll_us:6.2f} µs/op (in-process), first view of the queue {sync_ms:6.1f} ms",
                flush=True,
            )
            await redis.flushdb()
    finally:
        await redis.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--ops", type=int, default=2000, help="sequential issues and polls per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    redis_url = os.environ.get("REDIS_URL")
    server = None
    if not redis_url:
        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="queue-scale-")))
        redis_url = server.start()
    try:
        results = asyncio.run(measure(redis_url, sizes, args.ops))
    finally:
        if server:
            server.stop()
    base = results[0]
    for size, issue_us, poll_us in results[1:]:
        print(
            f"{size:,} vs {base[0]:,}: join x{issue_us / base[1]:.2f}, poll x{poll_us / base[2]:.2f} "
            "(1.00 = no growth with queue length)"
        )


if __name__ == "__main__":
    main()

"""Queue scale: issue and poll cost with 1,000 vs 1,000,000 fans waiting in one concert's queue.

    uv run python -m ticketing.bench.queue_scale [--sizes 1000,1000000] [--ops 2000]

Positions are ``ZRANK`` on a sorted set (O(log n)) and every operation is one Lua script, so the
cost per operation should not grow with the queue. This measures it against a real Redis-compatible
server (embedded Valkey, or REDIS_URL — whose database it flushes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from ticketing.config import Settings
from ticketing.core.embedded import EmbeddedRedis
from ticketing.core.redis import create_redis
from ticketing.waiting_room.store import QueueStore, concert_prefix

_FILL = """
local p, first, count, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for i = first, first + count - 1 do
  local token = 'fill' .. i
  redis.call('HSET', p .. 't:' .. token, 'u', 1000000000 + i, 'n', 'fan', 's', 'WAITING', 'x', now)
  redis.call('ZADD', p .. 'waiting', i, token)
  redis.call('ZADD', p .. 'seen', now, token)
end
redis.call('SET', p .. 'seq', first + count)
return count
"""


async def measure(redis_url: str, sizes: list[int], ops: int) -> list[tuple[int, float, float]]:
    settings = Settings(
        env="local", redis_url=redis_url, database_url="postgresql://unused/x", data_dir=Path(tempfile.mkdtemp())
    )
    redis = create_redis(settings)
    store = QueueStore(redis)
    fill = redis.register_script(_FILL)
    results = []
    try:
        await redis.flushdb()
        for concert_id, size in enumerate(sizes, start=1):
            p = concert_prefix(concert_id)
            now = int(time.time() * 1000)
            for first in range(0, size, 20_000):
                await fill(keys=[p + "waiting"], args=[p, first, min(20_000, size - first), now])
            grace, retain = 3_600_000, 600_000
            started = time.perf_counter()
            issued = [
                (await store.issue(concert_id, 2_000_000_000 + i, "probe", now, grace, retain)).token
                for i in range(ops)
            ]
            issue_us = (time.perf_counter() - started) / ops * 1e6
            started = time.perf_counter()
            for token in issued:
                view = await store.info(token, now, grace, retain)
                assert view is not None and view.position is not None and view.position > size
            poll_us = (time.perf_counter() - started) / ops * 1e6
            results.append((size, issue_us, poll_us))
            print(f"queue of {size:>9,} waiting: issue {issue_us:7.1f} µs/op, poll {poll_us:7.1f} µs/op", flush=True)
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
            f"{size:,} vs {base[0]:,}: issue x{issue_us / base[1]:.2f}, poll x{poll_us / base[2]:.2f} "
            "(1.00 = no growth with queue length)"
        )


if __name__ == "__main__":
    main()

"""``python -m bench.push_vs_poll``: what the seat map's live updates cost the server, polled
(every 3 s, as the page does without the push channel) or pushed (one Server-Sent Events stream
per fan; a change is then read once by each page). The service runs as in production (``ticketing
serve``, its own processes); the figure is the CPU time its whole process group used in each
phase (``/proc``), so the load generator's own CPU (this process) is not counted. Seats change
every ``--change-every`` seconds in both phases, as in a sale. Wall-clock figures are distorted
on a shared machine; CPU seconds per fan-minute much less so."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.fixtures import create_fans
from bench.runner import _fresh_database
from bench.server import HOST, ServiceUnderTest
from ticketing.cli import migrate
from ticketing.concerts.schemas import ConcertIn
from ticketing.config import Settings
from ticketing.container import build_services
from ticketing.devservers.embedded import EmbeddedServers
from ticketing.kernel.db import create_pool
from ticketing.kernel.redis import create_redis
from ticketing.kernel.security import Principal
from ticketing.schedules.schemas import ScheduleIn

POLL_SECONDS = 3.0  # the seat map's pace without the push channel (app.js)
PUSHED_POLL_SECONDS = 30.0  # its safety poll while the channel is open (PUSHED_POLL_MS)


def group_cpu_seconds(leader: int) -> float:
    """User + system CPU of every process in ``leader``'s process group (the service's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def poller(http: httpx.AsyncClient, url: str, headers: dict[str, str], until: float, counts: list[int]) -> None:
    await asyncio.sleep(random.uniform(0, POLL_SECONDS))
    while time.monotonic() < until:
        answer = await http.get(url, headers=headers)
        counts[0] += 1 if answer.status_code == 200 else 0
        await asyncio.sleep(POLL_SECONDS)


async def listener(
    http: httpx.AsyncClient, concert: int, schedule: int, headers: dict[str, str], until: float, counts: list[int]
) -> None:
    """A page with the push channel: a ticket, the stream, and on each seat event one read."""
    await asyncio.sleep(random.uniform(0, POLL_SECONDS))
    seats = f"/api/v1/schedules/{schedule}/seats"
    while time.monotonic() < until:
        issued = await http.post(
            "/api/v1/events/tickets", json={"concert_id": concert, "schedule_id": schedule}, headers=headers
        )
        issued.raise_for_status()
        try:
            async with http.stream(
                "GET", issued.json()["url"], timeout=httpx.Timeout(5, read=PUSHED_POLL_SECONDS)
            ) as stream:
                async for line in stream.aiter_lines():
                    if line == "event: seats":
                        counts[1] += 1
                        read = await http.get(seats, headers=headers)
                        counts[0] += read.status_code == 200
                    if line == "event: bye" or time.monotonic() >= until:
                        break
        except httpx.ReadTimeout:
            pass


async def seller(database_url: str, schedule: int, every: float, until: float) -> int:
    import asyncpg

    changed = 0
    conn = await asyncpg.connect(database_url)
    try:
        while time.monotonic() + every < until:
            await asyncio.sleep(every)
            await conn.execute(
                "UPDATE seats SET status = CASE status WHEN 'SOLD' THEN 'AVAILABLE' ELSE 'SOLD' END, "
                "version = version + 1 "
                "WHERE id = (SELECT id FROM seats WHERE schedule_id = $1 ORDER BY random() LIMIT 1)",
                schedule,
            )
            changed += 1
    finally:
        await conn.close()
    return changed


async def main(fans: int, seconds: float, change_every: float) -> None:
    work_dir = Path(tempfile.mkdtemp(prefix="ticketing-push-"))
    embedded = EmbeddedServers(work_dir / "servers", durable=False)
    base_db, redis_url = embedded.start(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"))
    database_url = await _fresh_database(base_db)
    await asyncio.to_thread(migrate, database_url)
    settings = Settings(env="local", database_url=database_url, redis_url=redis_url, data_dir=work_dir, db_pool_size=2)
    pool, redis = await create_pool(settings), create_redis(settings)
    await redis.flushdb()
    services = build_services(settings, pool, redis)
    service = ServiceUnderTest(database_url, redis_url, work_dir)
    try:
        service.start(queue_admit_per_second=100_000, queue_max_active=100_000, event_streams_max=100_000)
        concert = (await services.concerts.create_concert(ConcertIn(title="Push vs poll"))).id
        now = datetime.now(UTC)
        schedule = await services.schedules.create_schedule(
            concert,
            ScheduleIn(
                starts_at=now + timedelta(days=10),
                reservation_opens_at=now - timedelta(hours=1),
                reservation_closes_at=now + timedelta(days=9),
                price=50_000,
                seat_count=500,
            ),
        )
        people = await create_fans(services, fans, 0)
        headers = []
        opens_at = await services.schedules.sale_opens_at(concert)
        for fan in people:
            token, _ = await services.waiting_room.issue_token(
                Principal(user_id=fan.id, name=fan.name, role="fan"), concert, sale_opens_at=opens_at
            )
            headers.append({"Authorization": f"Bearer {fan.access_token}", "X-Queue-Token": token.token})
        last = headers[-1]["X-Queue-Token"]  # admitted in arrival order: the last in is the last admitted
        while (await services.waiting_room.token_info(last)).status != "ACTIVE":
            await services.waiting_room.admit(concert)
        assert service.process is not None
        leader = service.process.pid
        limits = httpx.Limits(max_connections=fans * 2 + 10, max_keepalive_connections=fans * 2 + 10)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{service.port}", limits=limits, timeout=30) as http:
            results = {}
            for phase in ("poll", "push"):
                counts = [0, 0]
                cpu = group_cpu_seconds(leader)
                until = time.monotonic() + seconds
                url = f"/api/v1/schedules/{schedule.id}/seats"
                clients = [
                    poller(http, url, h, until, counts)
                    if phase == "poll"
                    else listener(http, concert, schedule.id, h, until, counts)
                    for h in headers
                ]
                changed, *_ = await asyncio.gather(seller(database_url, schedule.id, change_every, until), *clients)
                results[phase] = (group_cpu_seconds(leader) - cpu, counts, changed)
        print(
            f"push vs poll: {fans} fans on one 500-seat map, {seconds:.0f} s per phase, "
            f"a seat change every {change_every} s"
        )
        for phase, (cpu, counts, changed) in results.items():
            per = cpu / fans / (seconds / 60) * 1000
            extra = f", {counts[1]:,} seat events" if phase == "push" else ""
            print(
                f"  {phase}: server CPU {cpu:.2f} s = {per:.1f} ms per fan-minute; "
                f"{counts[0]:,} seat-list reads{extra}; {changed} changes"
            )
    finally:
        service.stop()
        await redis.aclose()
        await pool.close()
        embedded.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.push_vs_poll", description=__doc__)
    parser.add_argument("--fans", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--change-every", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.fans, args.seconds, args.change_every))

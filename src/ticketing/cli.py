"""``ticketing`` command line: run (the whole local service), serve, migrate, demo-data.

``ticketing run`` is what ``make run`` calls: it starts embedded PostgreSQL and Valkey when
DATABASE_URL / REDIS_URL are unset, migrates, loads demo data and serves; Ctrl-C stops everything
it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence

from ticketing.config import PROJECT_ROOT, Settings, get_settings
from ticketing.container import Services


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


async def with_services(settings: Settings, work: Callable[[Services], Awaitable[None]]) -> None:
    from ticketing.container import build_services
    from ticketing.core.db import create_engine
    from ticketing.core.redis import create_redis

    engine = create_engine(settings)
    redis = create_redis(settings)
    try:
        await work(build_services(settings, engine, redis))
    finally:
        await redis.aclose()
        await engine.dispose()


async def run_worker(services: Services) -> None:
    from ticketing.core.jobs import JobRunner

    await JobRunner(services.background_jobs()).run_forever()


async def run_admin(services: Services, args: argparse.Namespace) -> None:
    """Operator CLI: the same services and validation as the operator endpoints."""
    import msgspec

    from ticketing.concerts.schemas import ConcertIn
    from ticketing.schedules.schemas import ScheduleIn

    if args.admin_command == "create-concert":
        concert = msgspec.convert(
            {"title": args.title, "venue": args.venue, "description": args.description}, ConcertIn
        )
        print(msgspec.json.encode(await services.concerts.create_concert(concert)).decode())
    elif args.admin_command == "create-schedule":
        raw = {
            "starts_at": args.starts_at,
            "reservation_opens_at": args.opens_at,
            "reservation_closes_at": args.closes_at,
            "seat_count": args.seats,
            "price": args.price,
        }
        schedule = msgspec.convert(raw, ScheduleIn, strict=False)
        created = await services.schedules.create_schedule(args.concert_id, schedule)
        print(msgspec.json.encode({**msgspec.to_builtins(created), "seats": len(created.seats)}).decode())


def load_demo(settings: Settings) -> None:
    from ticketing.demo import load_demo_data

    asyncio.run(with_services(settings, load_demo_data))


def serve(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    workers = settings.workers or os.cpu_count() or 1
    Granian(
        "ticketing.main:app_factory",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        backlog=2048,
        log_access=False,
        respawn_failed_workers=True,
    ).serve()


def run(settings: Settings) -> int:
    """Start (embedded) servers, migrate, load demo data, serve until Ctrl-C, stop what we started."""
    from ticketing.core.embedded import EmbeddedServers

    embedded = EmbeddedServers(settings.data_dir)
    database_url, redis_url = embedded.start(settings.database_url, settings.redis_url)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    if embedded.postgres or embedded.redis:
        print(f"embedded servers: {database_url}  {redis_url}  (data in {settings.data_dir})", flush=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        local = settings.model_copy(update={"database_url": database_url, "redis_url": redis_url})
        migrate(database_url)
        load_demo(local)
        print(f"serving on http://{settings.host}:{settings.port}  (API docs: /docs)", flush=True)
        server = subprocess.Popen([sys.executable, "-m", "ticketing.cli", "serve"], env=env)
        return server.wait()
    except KeyboardInterrupt:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        return 0
    finally:
        embedded.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticketing", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start embedded servers if needed, migrate, load demo data, serve")
    commands.add_parser("serve", help="serve the API (DATABASE_URL and REDIS_URL must point at servers)")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo-data", help="load the demo operator and fans (idempotent)")
    commands.add_parser(
        "worker", help="run the background jobs in this process (set TICKETING_RUN_JOBS_IN_SERVER=false)"
    )
    args = parser.parse_args(argv)
    settings = get_settings()

    def serve_and_exit() -> int:
        serve(settings)
        return 0

    def migrate_and_exit() -> int:
        migrate(_require(settings.database_url, "DATABASE_URL"))
        return 0

    def demo_and_exit() -> int:
        load_demo(settings)
        return 0

    def admin_and_exit() -> int:
        asyncio.run(with_services(settings, lambda services: run_admin(services, args)))
        return 0

    def worker_and_exit() -> int:
        asyncio.run(with_services(settings, run_worker))
        return 0

    handlers: dict[str, Callable[[], int]] = {
        "run": lambda: run(settings),
        "serve": serve_and_exit,
        "migrate": migrate_and_exit,
        "demo-data": demo_and_exit,
        "admin": admin_and_exit,
        "worker": worker_and_exit,
    }
    return handlers[args.command]()


def _require(value: str | None, name: str) -> str:
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


if __name__ == "__main__":
    sys.exit(main())

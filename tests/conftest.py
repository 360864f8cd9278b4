"""Test infrastructure: real PostgreSQL and a real Redis-compatible server.

With DATABASE_URL / REDIS_URL set, the suite uses those servers (a fresh database is created on
the PostgreSQL server for the session and dropped afterwards; the Redis database is flushed
before each test). Without them it starts embedded PostgreSQL and Valkey in a temp folder.

Tests that must hold on a Redis Cluster too override ``settings`` in their folder or module with
``tests.cluster_support.REDIS_BACKENDS`` (the waiting room does): every fixture built on
``settings`` then runs once on the single node above (id ``single``) and once on a real 3-master
Valkey cluster (id ``cluster``, marker ``redis_cluster``). The cluster is always started from the
embedded Valkey binary, whatever REDIS_URL says, once per session and only if some selected test
asks for it (``redis_cluster_url``); ``pytest -m "not redis_cluster"`` skips it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cluster_support import flush_all
from ticketing.cli import migrate
from ticketing.config import Settings
from ticketing.container import Services, open_services
from ticketing.devservers.embedded import EmbeddedServers, EmbeddedValkeyCluster, LocalPgBouncer
from ticketing.kernel.redis import RedisClient, create_redis
from ticketing.main import create_app
from ticketing.models import metadata


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="ticketing-test-"))
    embedded = EmbeddedServers(data_dir, durable=False)
    base_db, redis_url = embedded.start(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"))
    test_db = f"ticketing_test_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(_plain(base_db))
        try:
            await conn.execute(f'CREATE DATABASE "{test_db}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(_plain(base_db))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{test_db}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    database_url = _with_database(_plain(base_db), test_db)
    try:
        migrate(database_url)
        yield database_url, redis_url
    finally:
        asyncio.run(drop())
        embedded.stop()
        embedded.remove_data()


@pytest.fixture
def settings(servers: tuple[str, str], tmp_path: Path) -> Settings:
    database_url, redis_url = servers
    return Settings(
        env="local",
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        jwt_secret="test-secret-" + "x" * 40,
        # Races wait for a pooled connection rather than open one each: a stock PostgreSQL allows
        # only 100 clients, shared with every other pool of the test session.
        db_pool_size=30,
        lock_timeout_ms=5000,
        run_jobs_in_server=False,
        # Every read of a queue syncs the process's view first, so a test sees each change at once;
        # tests of the staleness bound set their own value.
        queue_snapshot_seconds=0,
        max_holds_per_address=0,  # every test client is one address; tests of the cap set their own
        rate_limits_enabled=False,  # one test client address; tests/test_rate_limits.py proves the limits
        challenge_enabled=False,  # the proof-of-work gate: tests/test_challenge.py proves it
    )


TABLES = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))


async def _empty(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_dsn)
    try:
        await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    redis = create_redis(settings)
    try:
        await flush_all(redis)
    finally:
        await redis.aclose()


@pytest.fixture
async def clean(settings: Settings) -> None:
    """Every test starts from empty tables and an empty Redis database."""
    await _empty(settings)


@pytest.fixture
async def services(settings: Settings, clean: None) -> AsyncIterator[Services]:
    async with open_services(settings) as services:
        yield services


@pytest.fixture
async def redis(services: Services) -> RedisClient:
    return services.redis


@pytest.fixture
def app(settings: Settings, clean: None) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


# --- Redis Cluster (see tests/cluster_support.py for running a test on both backends) ---------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis_cluster: runs on the 3-master Valkey cluster (started on demand)")
    config.addinivalue_line("markers", "pgbouncer: runs behind a real PgBouncer (Debian's, installed on demand)")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedValkeyCluster]:
    """A real 3-master Valkey cluster from the embedded binary (about 3 s to start: a new master
    waits 2 s before it takes writes), started on first use and stopped when the session ends."""
    cluster = EmbeddedValkeyCluster(Path(tempfile.mkdtemp(prefix="ticketing-cluster-")), masters=3)
    cluster.start()  # on failure: stopped, logs kept in the folder
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.remove_data()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: EmbeddedValkeyCluster) -> str:
    """``redis+cluster://127.0.0.1:<port>/0`` of the session's cluster."""
    return redis_cluster.url


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test servers' settings in the environment, for commands that read their own settings."""
    from ticketing.config import get_settings

    monkeypatch.setenv("TICKETING_ENV", "local")
    monkeypatch.setenv("DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("REDIS_URL", settings.redis_url or "")
    monkeypatch.setenv("TICKETING_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TICKETING_JWT_SECRET", settings.jwt_secret)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- PgBouncer (Debian package: installed here when missing, like the Makefile does for wrk) -----


def _install_pgbouncer() -> str | None:
    """Why PgBouncer is not available, or None once it is (installed from Debian when missing;
    the package index is refreshed only if the first attempt fails)."""
    install = ["apt-get", "install", "-y", "-qq", "pgbouncer"]
    for commands in ([install], [["apt-get", "update", "-qq"], install]):
        if LocalPgBouncer.binary():
            return None
        for command in commands:
            try:
                subprocess.run(command, check=False, capture_output=True, timeout=300)  # noqa: S603
            except (OSError, subprocess.TimeoutExpired) as error:
                return f"apt-get failed: {error}"
    return None if LocalPgBouncer.binary() else "the Debian package pgbouncer could not be installed"


@pytest.fixture(scope="session")
def pgbouncer_url(servers: tuple[str, str]) -> Iterator[str]:
    """The session's test database through a real PgBouncer in transaction mode (started once).
    Skips, saying why, when PgBouncer cannot be installed or the database is not one it can
    reach with trust authentication (a DATABASE_URL with a password or another host)."""
    database_url, _ = servers
    parts = urlsplit(database_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.password or parts.port is None:
        pytest.skip("PgBouncer tests need the embedded PostgreSQL (trust authentication on loopback)")
    missing = _install_pgbouncer()
    if missing:
        pytest.skip(f"PgBouncer unavailable: {missing}")
    bouncer = LocalPgBouncer(Path(tempfile.mkdtemp(prefix="ticketing-pgbouncer-")), parts.port)
    bouncer.start()
    try:
        yield urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{bouncer.port}"))
    finally:
        bouncer.stop()

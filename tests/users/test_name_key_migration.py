"""Migration 0008 on a database that already has look-alike accounts: every account keeps its
name and gets a key; of look-alikes the oldest keeps the plain key, the later ones carry their id,
so the unique index can be built and nobody is locked out."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command

from ticketing.cli import alembic_config


def alembic_to(database_url: str, revision: str, *, down: bool = False) -> None:
    (command.downgrade if down else command.upgrade)(alembic_config(database_url), revision)


def test_existing_look_alikes_survive_the_migration(servers: tuple[str, str]) -> None:
    base = servers[0]
    name = f"ticketing_migration_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def run(sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        alembic_to(url, "0006")
        for user in ("alice", "a1ice", "aIice", "Bob", "admin."):
            asyncio.run(run("INSERT INTO users (name, password_hash) VALUES ($1, 'x')", user))
        alembic_to(url, "0008")
        keys = {row["name"]: (row["id"], row["name_key"]) for row in asyncio.run(run("SELECT * FROM users"))}
        assert keys["alice"][1] == "alice"
        assert keys["a1ice"][1] == f"alice:{keys['a1ice'][0]}"
        assert keys["aIice"][1] == f"alice:{keys['aIice'][0]}"
        assert keys["Bob"][1] == "bob"
        assert keys["admin."][1] == "admin"
        asyncio.run(run("INSERT INTO users (name, name_key, password_hash, role) VALUES ('gate', 'gate', 'x', 'door')"))
        alembic_to(url, "0006", down=True)  # the way back works too (door staff become fans)
        assert [r["role"] for r in asyncio.run(run("SELECT role FROM users WHERE name = 'gate'"))] == ["fan"]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

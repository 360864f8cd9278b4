from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from ticketing.kernel.db import Database
from ticketing.users.errors import UserNameTaken
from ticketing.users.names import name_key


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    role: str
    password_hash: str
    token_version: int
    display_name: str | None


@dataclass(frozen=True, slots=True)
class AccountState:
    """What an access token is checked against where it matters: its version and the role."""

    role: str
    token_version: int


USER_COLUMNS = (
    "SELECT users.id, users.name, users.role, users.password_hash, users.token_version, users.display_name FROM users"
)


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, name: str, password_hash: str, role: str = "fan", display_name: str | None = None) -> int:
        """A taken name, or one that looks like a taken one (``users/names.py``), fails the
        statement on a unique index, and with it the caller's transaction: 409 USER_NAME_TAKEN."""
        sql = (
            "INSERT INTO users (name, name_key, password_hash, role, display_name) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        try:
            return int(await self.db.fetchval(sql, name, name_key(name), password_hash, role, display_name))
        except asyncpg.UniqueViolationError as error:
            raise UserNameTaken(f"The name {name!r} is taken, or looks like one that is") from error

    async def set_display_name(self, user_id: int, display_name: str | None) -> bool:
        found = await self.db.fetchval(
            "UPDATE users SET display_name = $2 WHERE id = $1 RETURNING id", user_id, display_name
        )
        return found is not None

    async def by_name(self, name: str) -> UserRecord | None:
        row = await self.db.fetchrow(f"{USER_COLUMNS} WHERE lower(users.name) = $1", name.lower())
        return UserRecord(*row) if row else None

    async def by_id(self, user_id: int) -> UserRecord | None:
        row = await self.db.fetchrow(f"{USER_COLUMNS} WHERE users.id = $1", user_id)
        return UserRecord(*row) if row else None

    async def add_many(self, prefix: str, count: int, password_hash: str) -> list[tuple[int, str]]:
        """Fans ``<prefix>0000001`` .. in one set-based statement: (id, name) of each."""
        names = [f"{prefix}{n:07d}" for n in range(1, count + 1)]
        keys = [name_key(name) for name in names]
        sql = (
            "INSERT INTO users (name, name_key, password_hash, role) "
            "SELECT name, key, $3, 'fan' FROM unnest($1::text[], $2::text[]) AS fans (name, key) RETURNING id, name"
        )
        try:
            return [(row[0], row[1]) for row in await self.db.fetch(sql, names, keys, password_hash)]
        except asyncpg.UniqueViolationError as error:
            raise UserNameTaken(f"Names starting with {prefix!r} are already taken") from error

    async def names(self, user_ids: Collection[int]) -> dict[int, str]:
        sql = "SELECT id, name FROM users WHERE id = ANY($1::bigint[])"
        return {row[0]: row[1] for row in await self.db.fetch(sql, list(user_ids))}

    async def account_states(self, user_ids: Collection[int]) -> dict[int, AccountState]:
        """The accounts that exist among ``user_ids``: the check of a token on writes and operator
        endpoints, for every request of a batch in one read (``UserService.current``)."""
        sql = "SELECT id, role, token_version FROM users WHERE id = ANY($1::bigint[])"
        rows = await self.db.fetch(sql, list(user_ids))
        return {row[0]: AccountState(row[1], row[2]) for row in rows}

    async def revoke_tokens(self, user_id: int) -> int | None:
        """Bump the token version (every token issued before stops working); the new version."""
        sql = "UPDATE users SET token_version = token_version + 1 WHERE id = $1 RETURNING token_version"
        value = await self.db.fetchval(sql, user_id)
        return int(value) if value is not None else None

    async def change_password(self, user_id: int, password_hash: str, token_version: int) -> int | None:
        """Set the password and revoke every token, only if the caller's token is still the
        current version (a sign-out racing the change wins); the new version, or None."""
        sql = (
            "UPDATE users SET password_hash = $2, token_version = token_version + 1 "
            "WHERE id = $1 AND token_version = $3 RETURNING token_version"
        )
        value = await self.db.fetchval(sql, user_id, password_hash, token_version)
        return int(value) if value is not None else None

    async def set_password_and_role(self, user_id: int, password_hash: str, role: str) -> None:
        """A reset by the operator's command: revokes the account's tokens, as a change does."""
        sql = "UPDATE users SET password_hash = $2, role = $3, token_version = token_version + 1 WHERE id = $1"
        await self.db.execute(sql, user_id, password_hash, role)

    async def upgrade_password_hash(self, user_id: int, old_hash: str, new_hash: str) -> None:
        """The same password, hashed with today's parameters (after a sign-in): not a password
        change, so no token is revoked; skipped if the password changed meanwhile."""
        sql = "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"
        await self.db.execute(sql, user_id, old_hash, new_hash)

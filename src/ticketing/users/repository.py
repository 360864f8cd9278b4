from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ticketing.core.db import Connection
from ticketing.core.locking import translate_db_errors
from ticketing.users.errors import UserNameTaken


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    role: str
    password_hash: str
    wallet_id: int


USER_WITH_WALLET = (
    "SELECT users.id, users.name, users.role, users.password_hash, wallets.id AS wallet_id "
    "FROM users JOIN wallets ON wallets.user_id = users.id"
)


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, name: str, password_hash: str, role: str = "fan") -> int:
        sql = "INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3) RETURNING id"
        with translate_db_errors():
            try:  # a taken name fails the statement, and with it the caller's transaction
                return int(await self.conn.fetchval(sql, name, password_hash, role))
            except asyncpg.UniqueViolationError as error:
                raise UserNameTaken(f"The name {name!r} is already taken") from error

    async def by_name(self, name: str) -> UserRecord | None:
        with translate_db_errors():
            row = await self.conn.fetchrow(f"{USER_WITH_WALLET} WHERE lower(users.name) = $1", name.lower())
        return UserRecord(*row) if row else None

    async def by_id(self, user_id: int) -> UserRecord | None:
        with translate_db_errors():
            row = await self.conn.fetchrow(f"{USER_WITH_WALLET} WHERE users.id = $1", user_id)
        return UserRecord(*row) if row else None

    async def set_password_and_role(self, user_id: int, password_hash: str, role: str) -> None:
        sql = "UPDATE users SET password_hash = $2, role = $3 WHERE id = $1"
        with translate_db_errors():
            await self.conn.execute(sql, user_id, password_hash, role)

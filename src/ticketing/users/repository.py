from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ticketing.core.locking import translate_db_errors
from ticketing.users.errors import UserNameTaken
from ticketing.users.models import User
from ticketing.wallets.models import Wallet


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    role: str
    password_hash: str
    wallet_id: int


_user_columns = (User.id, User.name, User.role, User.password_hash, Wallet.id.label("wallet_id"))


class UserRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, name: str, password_hash: str, role: str = "fan") -> int:
        with translate_db_errors():
            try:
                async with self.conn.begin_nested():
                    return int(
                        await self.conn.scalar(
                            insert(User).values(name=name, password_hash=password_hash, role=role).returning(User.id)
                        )
                        or 0
                    )
            except IntegrityError as error:
                raise UserNameTaken(f"The name {name!r} is already taken") from error

    async def by_name(self, name: str) -> UserRecord | None:
        stmt = (
            select(*_user_columns).join(Wallet, Wallet.user_id == User.id).where(func.lower(User.name) == name.lower())
        )
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return UserRecord(*row) if row else None

    async def by_id(self, user_id: int) -> UserRecord | None:
        stmt = select(*_user_columns).join(Wallet, Wallet.user_id == User.id).where(User.id == user_id)
        with translate_db_errors():
            row = (await self.conn.execute(stmt)).first()
        return UserRecord(*row) if row else None

    async def set_password_and_role(self, user_id: int, password_hash: str, role: str) -> None:
        with translate_db_errors():
            await self.conn.execute(
                update(User).where(User.id == user_id).values(password_hash=password_hash, role=role)
            )

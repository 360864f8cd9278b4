"""Plain async factories. Users get a password hash computed once per session: a real argon2
hash costs ~100 ms, and a race test needs a hundred users."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

from ticketing.container import Services
from ticketing.core.security import Principal, hash_password_sync
from ticketing.users.repository import UserRepository
from ticketing.wallets.repository import WalletRepository

PASSWORD = "correct-horse-battery"  # noqa: S105
_names = itertools.count(1)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password_sync(PASSWORD)


@dataclass(frozen=True)
class TestUser:
    id: int
    name: str
    wallet_id: int
    token: str
    principal: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_user(services: Services, *, name: str | None = None, balance: int = 0, role: str = "fan") -> TestUser:
    name = name or f"user{next(_names):05d}"
    async with services.uow() as uow:
        user_id = await UserRepository(uow.conn).add(name, _password_hash(), role)
        wallets = WalletRepository(uow.conn)
        wallet_id = await wallets.create(user_id)
        if balance:
            await wallets.apply(wallet_id, balance, "CHARGE", balance)
        await uow.commit()
    principal = Principal(user_id=user_id, name=name, role=role)  # type: ignore[arg-type]
    return TestUser(user_id, name, wallet_id, services.users.issue_token(principal), principal)


async def create_concert(services: Services, title: str = "Test concert") -> int:
    from ticketing.concerts.schemas import ConcertIn

    return (await services.concerts.create_concert(ConcertIn(title=title))).id


async def admitted_token(services: Services, user: TestUser, concert_id: int) -> str:
    """Join the queue and run admission ticks until this user's token is active."""
    token, _ = await services.waiting_room.issue_token(user.principal, concert_id)
    for _ in range(100):
        if (await services.waiting_room.token_info(token.token)).status == "ACTIVE":
            return token.token
        await services.waiting_room.admit(concert_id)
    raise AssertionError("token was not admitted")

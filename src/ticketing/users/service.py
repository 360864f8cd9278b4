"""Sign-up, sign-in and the caller's profile."""

from __future__ import annotations

from ticketing.core.errors import Unauthenticated
from ticketing.core.security import Principal, hash_password, issue_access_token, verify_password
from ticketing.core.uow import UnitOfWorkFactory
from ticketing.users.errors import UserNotFound
from ticketing.users.repository import UserRepository
from ticketing.users.schemas import AccessToken, UserOut
from ticketing.wallets.service import WalletService


class UserService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, wallets: WalletService, *, jwt_secret: str, jwt_ttl: int
    ) -> None:
        self._uow_factory = uow_factory
        self._wallets = wallets
        self._jwt_secret = jwt_secret
        self._jwt_ttl = jwt_ttl

    async def sign_up(self, name: str, password: str, role: str = "fan") -> UserOut:
        password_hash = await hash_password(password)
        async with self._uow_factory() as uow:
            user_id = await UserRepository(uow.conn).add(name, password_hash, role)
            wallet_id = await self._wallets.create_wallet(uow, user_id)
            await uow.commit()
        return UserOut(id=user_id, name=name, wallet_id=wallet_id)

    async def sign_in(self, name: str, password: str) -> AccessToken:
        async with self._uow_factory(autocommit=True) as uow:
            user = await UserRepository(uow.conn).by_name(name)
        # Unknown name and wrong password answer alike, after the same amount of work.
        if not await verify_password(user.password_hash if user else None, password) or user is None:
            raise Unauthenticated("Unknown name or wrong password")
        principal = Principal(user_id=user.id, name=user.name, role=user.role)  # type: ignore[arg-type]
        return AccessToken(access_token=self.issue_token(principal), expires_in=self._jwt_ttl)

    def issue_token(self, principal: Principal) -> str:
        return issue_access_token(principal, secret=self._jwt_secret, ttl_seconds=self._jwt_ttl)

    async def me(self, principal: Principal) -> UserOut:
        async with self._uow_factory(autocommit=True) as uow:
            user = await UserRepository(uow.conn).by_id(principal.user_id)
        if user is None:
            raise UserNotFound("The signed-in user no longer exists")
        return UserOut(id=user.id, name=user.name, wallet_id=user.wallet_id)

    async def ensure_operator(self, name: str, password: str) -> UserOut:
        """Create the operator account, or reset its password and role (local runs, demo data)."""
        async with self._uow_factory(autocommit=True) as uow:
            existing = await UserRepository(uow.conn).by_name(name)
        if existing is None:
            return await self.sign_up(name, password, role="admin")
        if existing.role != "admin" or not await verify_password(existing.password_hash, password):
            password_hash = await hash_password(password)
            async with self._uow_factory() as uow:
                await UserRepository(uow.conn).set_password_and_role(existing.id, password_hash, "admin")
                await uow.commit()
        return UserOut(id=existing.id, name=existing.name, wallet_id=existing.wallet_id)

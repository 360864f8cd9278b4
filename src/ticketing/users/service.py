"""Sign-up, sign-in, sign-out, password change and the caller's profile.

Revocation: every access token carries its account's token version (claim ``ver``). Sign-out
and a password change bump the account's version, so every token issued before stops working
where ``current`` is checked: writes and operator endpoints. Those checks are read in batches
(one statement for every check of the process waiting at that moment, ``core/coalesce.py``): a
write arriving after a revocation committed is always checked by a read sent after it. The hot
reads (queue poll, dates, seat map) trust the token's signature until it expires
(TICKETING_JWT_TTL_SECONDS), so a revoked token can still read for at most that long.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Collection

from ticketing.core.coalesce import Coalescer
from ticketing.core.errors import RateLimited, ServiceUnavailable, Unauthenticated
from ticketing.core.hashing import LOCAL
from ticketing.core.ratelimit import RateLimiter, account_key
from ticketing.core.security import (
    Principal,
    Role,
    hash_password,
    issue_access_token,
    verify_password,
    verify_password_for_sign_in,
)
from ticketing.core.uow import UnitOfWorkFactory
from ticketing.users.errors import UserNotFound
from ticketing.users.repository import AccountState, UserRepository
from ticketing.users.schemas import AccessToken, UserOut
from ticketing.wallets.service import WalletService

FAILED_SIGN_INS = "sign-in-failures"


class UserService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        wallets: WalletService,
        *,
        jwt_secret: str,
        jwt_ttl: int,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._limiter = limiter  # the failed-sign-in back-off (None: no back-off)
        self._wallets = wallets
        self._jwt_secret = jwt_secret
        self._jwt_ttl = jwt_ttl
        # Every write checks its caller's account: under load one read serves all that wait.
        self._accounts: Coalescer[None, int, AccountState | None] = Coalescer(self._read_accounts)

    async def sign_up(self, name: str, password: str, role: str = "fan", *, client: str = LOCAL) -> UserOut:
        """``client``: the caller's address, whose turn the hash takes (``core/hashing.py``)."""
        password_hash = await hash_password(password, client=client)
        async with self._uow_factory() as uow:
            user_id = await UserRepository(uow.conn).add(name, password_hash, role)
            wallet_id = await self._wallets.create_wallet(uow, user_id)
            await uow.commit()
        return UserOut(id=user_id, name=name, wallet_id=wallet_id)

    async def sign_in(self, name: str, password: str, *, client: str = LOCAL) -> AccessToken:
        # The back-off is keyed by the name as typed, whether or not it exists, and is checked
        # before the database is read: a known and an unknown name are refused alike, unhashed.
        account, limiter = account_key(name), self._limiter
        if limiter is not None:
            wait = await limiter.blocked_for(FAILED_SIGN_INS, limiter.sign_in_failures, account)
            if wait is not None:
                raise RateLimited(
                    f"Too many failed sign-ins for this account; try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        async with self._uow_factory(autocommit=True) as uow:
            user = await UserRepository(uow.conn).by_name(name)
        # Unknown name and wrong password answer alike, after the same amount of work.
        right, upgraded_hash = await verify_password_for_sign_in(
            user.password_hash if user else None, password, client=client
        )
        if not right or user is None:
            if limiter is not None:
                await limiter.record(FAILED_SIGN_INS, limiter.sign_in_failures, account)
            raise Unauthenticated("Unknown name or wrong password")
        if upgraded_hash is not None:
            # The password was right: a failed upgrade must not fail the sign-in (the next one retries).
            with contextlib.suppress(ServiceUnavailable):
                async with self._uow_factory() as uow:
                    await UserRepository(uow.conn).upgrade_password_hash(user.id, user.password_hash, upgraded_hash)
                    await uow.commit()
        principal = Principal(user_id=user.id, name=user.name, role=user.role, token_version=user.token_version)  # type: ignore[arg-type]
        return AccessToken(access_token=self.issue_token(principal), expires_in=self._jwt_ttl)

    async def current(self, principal: Principal) -> Principal:
        """The caller as the database knows them now: 401 for a revoked token (an older token
        version) or a deleted account; the role is the account's, not the token's, so an
        operator demoted in the database loses the operator endpoints at once."""
        state = await self._accounts.submit(None, principal.user_id)
        if state is None or state.token_version != principal.token_version:
            raise Unauthenticated("This access token has been revoked (signed out or password changed); sign in again")
        if state.role == principal.role:
            return principal
        role: Role = state.role if state.role in ("admin", "door") else "fan"  # type: ignore[assignment]
        return dataclasses.replace(principal, role=role)

    async def sign_out(self, principal: Principal) -> None:
        """Revoke every access token of the account issued before now (every device)."""
        async with self._uow_factory() as uow:
            await UserRepository(uow.conn).revoke_tokens(principal.user_id)
            await uow.commit()

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str, *, client: str = LOCAL
    ) -> AccessToken:
        """Check the current password (401 if wrong, nothing changed), set the new one and revoke
        every token issued before; answers a fresh token so this client stays signed in."""
        async with self._uow_factory(autocommit=True) as uow:
            user = await UserRepository(uow.conn).by_id(principal.user_id)
        if user is None or not await verify_password(user.password_hash, current_password, client=client):
            raise Unauthenticated("The current password is wrong")
        password_hash = await hash_password(new_password, client=client)
        async with self._uow_factory() as uow:
            version = await UserRepository(uow.conn).change_password(user.id, password_hash, principal.token_version)
            if version is None:  # revoked while the hash was computed: this token may not change it
                raise Unauthenticated("This access token has been revoked; sign in again")
            await uow.commit()
        fresh = dataclasses.replace(principal, token_version=version)
        return AccessToken(access_token=self.issue_token(fresh), expires_in=self._jwt_ttl)

    def issue_token(self, principal: Principal) -> str:
        return issue_access_token(principal, secret=self._jwt_secret, ttl_seconds=self._jwt_ttl)

    async def me(self, principal: Principal) -> UserOut:
        async with self._uow_factory(autocommit=True) as uow:
            user = await UserRepository(uow.conn).by_id(principal.user_id)
        if user is None:
            raise UserNotFound("The signed-in user no longer exists")
        return UserOut(id=user.id, name=user.name, wallet_id=await self._wallets.wallet_id_of(user.id))

    async def create_fans_in_bulk(self, prefix: str, count: int, balance: int) -> list[UserOut]:
        """``count`` fans with funded wallets in a few set-based statements, for load tests: one
        unguessable password hash for all (nobody signs in with it; tokens are issued directly)."""
        password_hash = await hash_password(secrets.token_urlsafe(16))
        async with self._uow_factory() as uow:
            users = await UserRepository(uow.conn).add_many(prefix, count, password_hash)
            wallet_of = await self._wallets.create_funded_wallets(uow, [user_id for user_id, _ in users], balance)
            await uow.commit()
        return [UserOut(id=user_id, name=name, wallet_id=wallet_of[user_id]) for user_id, name in users]

    async def names(self, user_ids: Collection[int]) -> dict[int, str]:
        """Account names by id (for other domains' views, e.g. the operators' top holders)."""
        if not user_ids:
            return {}
        async with self._uow_factory(autocommit=True) as uow:
            return await UserRepository(uow.conn).names(user_ids)

    async def ensure_exists(self, user_id: int) -> None:
        if await self._accounts.submit(None, user_id) is None:
            raise UserNotFound("The signed-in user no longer exists")

    async def _read_accounts(self, _: None, user_ids: list[int]) -> list[AccountState | BaseException | None]:
        async with self._uow_factory(autocommit=True) as uow:
            states = await UserRepository(uow.conn).account_states(set(user_ids))
        return [states.get(user_id) for user_id in user_ids]

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
        return UserOut(id=existing.id, name=existing.name, wallet_id=await self._wallets.wallet_id_of(existing.id))

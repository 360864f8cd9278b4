"""Sign-up, sign-in, sign-out, password change and the caller's profile.

Revocation: every access token carries its account's token version (claim ``ver``). Sign-out
and a password change bump the account's version, so every token issued before stops working
where ``current`` is checked: writes and operator endpoints. Those checks are read in batches
(one statement for every check of the process waiting at that moment, ``kernel/coalesce.py``): a
write arriving after a revocation committed is always checked by a read sent after it. The hot
reads (queue poll, dates, seat map) trust the token's signature until it expires
(TICKETING_JWT_TTL_SECONDS), so a revoked token can still read for at most that long.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Collection
from typing import Literal

from ticketing.kernel.challenge import ChallengeGate, sign_in_action, sign_up_action
from ticketing.kernel.coalesce import Coalescer
from ticketing.kernel.errors import RateLimited, ServiceUnavailable, Unauthenticated
from ticketing.kernel.hashing import LOCAL
from ticketing.kernel.ratelimit import RateLimiter, account_key
from ticketing.kernel.security import (
    Principal,
    Role,
    hash_password,
    issue_access_token,
    verify_password,
    verify_password_for_sign_in,
)
from ticketing.kernel.uow import UnitOfWorkFactory
from ticketing.users.errors import InvalidDisplayName, UserNameTaken, UserNotFound
from ticketing.users.names import clean_display_name, display_name_fault
from ticketing.users.repository import AccountState, UserRepository
from ticketing.users.schemas import AccessToken, UserOut
from ticketing.wallets.service import WalletService

# What ``create_operator`` did: made the account, found it as asked, or changed it as asked.
OperatorOutcome = Literal["created", "unchanged", "password_reset", "promoted"]


class UserService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        wallets: WalletService,
        *,
        jwt_secret: str,
        jwt_ttl: int,
        limiter: RateLimiter | None = None,
        gate: ChallengeGate | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._limiter = limiter  # the failed-sign-in back-off (None: no back-off)
        self._gate = gate  # the proof-of-work gate of sign-up and sign-in (None: none)
        self._wallets = wallets
        self._jwt_secret = jwt_secret
        self._jwt_ttl = jwt_ttl
        # Every write checks its caller's account: under load one read serves all that wait.
        self._accounts: Coalescer[None, int, AccountState | None] = Coalescer(self._read_accounts)

    async def register(
        self, name: str, password: str, *, client: str, solution: str | None, display_name: str | None = None
    ) -> UserOut:
        """Sign-up over HTTP: behind the proof-of-work gate (``solution``: the X-Altcha header),
        and the caller's address is remembered as the account's (sign-in from there is judged by
        its own failures only)."""
        shown = checked_display_name(display_name)  # before the gate and the hash: a bad name costs nothing
        if self._gate is not None:
            await self._gate.require(sign_up_action(), solution)
        user = await self.sign_up(name, password, client=client, display_name=shown)
        if self._limiter is not None:
            await self._limiter.remember_address(account_key(name), client)
        return user

    async def sign_up(
        self, name: str, password: str, role: str = "fan", *, client: str = LOCAL, display_name: str | None = None
    ) -> UserOut:
        """``client``: the caller's address, whose turn the hash takes (``kernel/hashing.py``);
        ``display_name`` as ``checked_display_name`` gave it."""
        password_hash = await hash_password(password, client=client)
        async with self._uow_factory() as uow:
            user_id = await uow.repo(UserRepository).add(name, password_hash, role, display_name)
            wallet_id = await self._wallets.create_wallet(uow, user_id)
            await uow.commit()
        return UserOut(id=user_id, name=name, wallet_id=wallet_id, display_name=display_name)

    async def sign_in(
        self, name: str, password: str, *, client: str = LOCAL, solution: str | None = None
    ) -> AccessToken:
        # The back-off and the challenge are keyed by the name as typed, whether or not it exists,
        # and checked before the database is read: a known and an unknown name answer alike,
        # unhashed. ``solution``: the X-Altcha header, checked only when a challenge is needed.
        account, limiter, known = account_key(name), self._limiter, False
        if limiter is not None:
            known, wait = await limiter.sign_in_check(account, client)
            if wait is not None:
                if self._gate is not None and self._gate.enabled:
                    await self._gate.require(sign_in_action(account), solution)
                else:  # no gate: new addresses wait instead (known ones still sign in)
                    raise RateLimited(
                        f"Too many failed sign-ins for this account; try again in {wait} s",
                        headers={"Retry-After": str(wait)},
                    )
        async with self._uow_factory(autocommit=True) as uow:
            user = await uow.repo(UserRepository).by_name(name)
        # Unknown name and wrong password answer alike, after the same amount of work.
        right, upgraded_hash = await verify_password_for_sign_in(
            user.password_hash if user else None, password, client=client, known=known
        )
        if not right or user is None:
            if limiter is not None:
                await limiter.sign_in_failed(account, client)
            raise Unauthenticated("Unknown name or wrong password")
        if limiter is not None:
            await limiter.remember_address(account, client)
        if upgraded_hash is not None:
            # The password was right: a failed upgrade must not fail the sign-in (the next one retries).
            with contextlib.suppress(ServiceUnavailable):
                async with self._uow_factory() as uow:
                    await uow.repo(UserRepository).upgrade_password_hash(user.id, user.password_hash, upgraded_hash)
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
            await uow.repo(UserRepository).revoke_tokens(principal.user_id)
            await uow.commit()

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str, *, client: str = LOCAL
    ) -> AccessToken:
        """Check the current password (401 if wrong, nothing changed), set the new one and revoke
        every token issued before; answers a fresh token so this client stays signed in."""
        async with self._uow_factory(autocommit=True) as uow:
            user = await uow.repo(UserRepository).by_id(principal.user_id)
        if user is None or not await verify_password(user.password_hash, current_password, client=client):
            raise Unauthenticated("The current password is wrong")
        password_hash = await hash_password(new_password, client=client)
        async with self._uow_factory() as uow:
            version = await uow.repo(UserRepository).change_password(user.id, password_hash, principal.token_version)
            if version is None:  # revoked while the hash was computed: this token may not change it
                raise Unauthenticated("This access token has been revoked; sign in again")
            await uow.commit()
        fresh = dataclasses.replace(principal, token_version=version)
        return AccessToken(access_token=self.issue_token(fresh), expires_in=self._jwt_ttl)

    def issue_token(self, principal: Principal) -> str:
        return issue_access_token(principal, secret=self._jwt_secret, ttl_seconds=self._jwt_ttl)

    async def me(self, principal: Principal) -> UserOut:
        async with self._uow_factory(autocommit=True) as uow:
            user = await uow.repo(UserRepository).by_id(principal.user_id)
        if user is None:
            raise UserNotFound("The signed-in user no longer exists")
        return UserOut(
            id=user.id,
            name=user.name,
            wallet_id=await self._wallets.wallet_id_of(user.id),
            display_name=user.display_name,
        )

    async def set_display_name(self, principal: Principal, display_name: str | None) -> UserOut:
        """Set (or with None remove) what the pages call the fan."""
        shown = checked_display_name(display_name)
        async with self._uow_factory() as uow:
            found = await uow.repo(UserRepository).set_display_name(principal.user_id, shown)
            await uow.commit()
        if not found:
            raise UserNotFound("The signed-in user no longer exists")
        return await self.me(principal)

    async def create_fans_in_bulk(self, prefix: str, count: int, balance: int) -> list[UserOut]:
        """``count`` fans with funded wallets in a few set-based statements, for load tests: one
        unguessable password hash for all (nobody signs in with it; tokens are issued directly)."""
        password_hash = await hash_password(secrets.token_urlsafe(16))
        async with self._uow_factory() as uow:
            users = await uow.repo(UserRepository).add_many(prefix, count, password_hash)
            wallet_of = await self._wallets.create_funded_wallets(uow, [user_id for user_id, _ in users], balance)
            await uow.commit()
        return [UserOut(id=user_id, name=name, wallet_id=wallet_of[user_id]) for user_id, name in users]

    async def names(self, user_ids: Collection[int]) -> dict[int, str]:
        """Account names by id (for other domains' views, e.g. the operators' top holders)."""
        if not user_ids:
            return {}
        async with self._uow_factory(autocommit=True) as uow:
            return await uow.repo(UserRepository).names(user_ids)

    async def ensure_exists(self, user_id: int) -> None:
        if await self._accounts.submit(None, user_id) is None:
            raise UserNotFound("The signed-in user no longer exists")

    async def _read_accounts(self, _: None, user_ids: list[int]) -> list[AccountState | BaseException | None]:
        async with self._uow_factory(autocommit=True) as uow:
            states = await uow.repo(UserRepository).account_states(set(user_ids))
        return [states.get(user_id) for user_id in user_ids]

    async def create_operator(
        self, name: str, password: str, *, promote: bool = False, reset_password: bool = False
    ) -> tuple[UserOut, OperatorOutcome]:
        """``ticketing admin create-operator``: a new operator account, or what it says about the
        name if it exists. Run twice with the same name and password it changes nothing (a
        deployment's bootstrap can run it on every release). An existing operator with another
        password, or a fan's account, is refused unless asked for: ``reset_password`` sets the
        operator's password, ``promote`` makes the fan an operator with this password; both
        revoke the account's earlier tokens."""
        for _ in range(2):  # a concurrent creation of the same name: looked at again, once
            async with self._uow_factory(autocommit=True) as uow:
                existing = await uow.repo(UserRepository).by_name(name)
            if existing is None:
                try:
                    return await self.sign_up(name, password, role="admin"), "created"
                except UserNameTaken:
                    continue
            if existing.role == "admin":
                if await verify_password(existing.password_hash, password):
                    outcome: OperatorOutcome = "unchanged"
                elif reset_password:
                    outcome = "password_reset"
                else:
                    raise UserNameTaken(
                        f"An operator named {name!r} exists with another password (--reset-password sets it)"
                    )
            elif promote:
                outcome = "promoted"
            else:
                raise UserNameTaken(f"{name!r} is a fan's account (--promote makes it an operator)")
            if outcome != "unchanged":
                password_hash = await hash_password(password)
                async with self._uow_factory() as uow:
                    await uow.repo(UserRepository).set_password_and_role(existing.id, password_hash, "admin")
                    await uow.commit()
            wallet_id = await self._wallets.wallet_id_of(existing.id)
            return UserOut(id=existing.id, name=existing.name, wallet_id=wallet_id), outcome
        raise UserNameTaken(f"{name!r} was created and removed meanwhile; try again")

    async def ensure_operator(self, name: str, password: str) -> UserOut:
        """Create the operator account, or reset its password and role (local runs, demo data)."""
        async with self._uow_factory(autocommit=True) as uow:
            existing = await uow.repo(UserRepository).by_name(name)
        if existing is None:
            return await self.sign_up(name, password, role="admin")
        if existing.role != "admin" or not await verify_password(existing.password_hash, password):
            password_hash = await hash_password(password)
            async with self._uow_factory() as uow:
                await uow.repo(UserRepository).set_password_and_role(existing.id, password_hash, "admin")
                await uow.commit()
        return UserOut(id=existing.id, name=existing.name, wallet_id=await self._wallets.wallet_id_of(existing.id))


def checked_display_name(display_name: str | None) -> str | None:
    """The display name as stored (``users/names.py``), or 422 INVALID_DISPLAY_NAME saying why."""
    if display_name is None:
        return None
    shown = clean_display_name(display_name)
    fault = display_name_fault(shown)
    if fault is not None:
        raise InvalidDisplayName(fault)
    return shown

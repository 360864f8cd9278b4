"""Wallet use cases (seed flows 1 and 2): balance query, charge and ledger."""

from __future__ import annotations

import msgspec

from ticketing.core.locking import retry_on_conflict
from ticketing.core.pagination import decode_cursor, next_cursor
from ticketing.core.security import Principal
from ticketing.core.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply
from ticketing.users.errors import UserNotFound
from ticketing.wallets.errors import (
    BalanceLimitExceeded,
    InsufficientBalance,
    InvalidAmount,
    WalletNotFound,
    WalletUserMismatch,
)
from ticketing.wallets.repository import WalletRepository, WalletRow
from ticketing.wallets.schemas import LedgerEntryOut, LedgerPage, WalletOut


def validate_amount(amount: object, max_amount: int) -> int:
    # bool is an int subclass in Python; JSON true is not an amount.
    if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= max_amount:
        raise InvalidAmount(f"amount must be an integer number of won from 1 to {max_amount:,}")
    return amount


def wallet_out(row: WalletRow) -> WalletOut:
    return WalletOut(wallet_id=row.id, user_id=row.user_id, balance=row.balance, updated_at=row.updated_at)


class WalletService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, idempotency: IdempotencyService, *, max_charge: int, balance_cap: int
    ) -> None:
        self._uow_factory = uow_factory
        self._idempotency = idempotency
        self.max_charge = max_charge
        self.balance_cap = balance_cap

    @staticmethod
    async def _ensure_owner(repo: WalletRepository, principal: Principal, owner_id: int | None) -> None:
        """The seed's order: wallet missing, then user missing, then wallet/user mismatch."""
        if owner_id is None:
            raise WalletNotFound()
        if owner_id != principal.user_id:
            if not await repo.user_exists(principal.user_id):
                raise UserNotFound("The signed-in user no longer exists")
            raise WalletUserMismatch()

    async def get_wallet(self, principal: Principal, wallet_id: int) -> WalletOut:
        async with self._uow_factory(autocommit=True) as uow:
            repo = WalletRepository(uow.conn)
            wallet = await repo.get(wallet_id)
            await self._ensure_owner(repo, principal, wallet.user_id if wallet else None)
        assert wallet is not None
        return wallet_out(wallet)

    async def charge(
        self, principal: Principal, wallet_id: int, amount: object, idempotency: IdempotentRequest | None
    ) -> StoredReply:
        """Returns the encoded response: a replayed one for a repeated Idempotency-Key."""
        won = validate_amount(amount, self.max_charge)
        replay = await self._idempotency.replay(idempotency)
        if replay is not None:
            return replay

        async def attempt() -> StoredReply:
            # Without an Idempotency-Key the charge is one statement: run it as its own
            # transaction, so the hot wallet's row lock is held for that statement only.
            async with self._uow_factory(autocommit=idempotency is None) as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored
                repo = WalletRepository(uow.conn)
                outcome = await repo.charge(wallet_id, principal.user_id, won, self.balance_cap)
                await self._ensure_owner(repo, principal, outcome.owner_id if outcome else None)
                assert outcome is not None
                if outcome.credited is None:
                    raise BalanceLimitExceeded(
                        f"the balance would be {outcome.balance_before + won:,} won; the limit is {self.balance_cap:,}"
                    )
                updated = outcome.credited
                reply = StoredReply(200, msgspec.json.encode(wallet_out(updated)))
                if idempotency is not None:
                    await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                    await uow.commit()
            return reply

        return await retry_on_conflict(attempt)

    async def ledger(self, principal: Principal, wallet_id: int, cursor: str | None, limit: int) -> LedgerPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            repo = WalletRepository(uow.conn)
            wallet = await repo.get(wallet_id)
            await self._ensure_owner(repo, principal, wallet.user_id if wallet else None)
            rows = await repo.ledger_page(wallet_id, before, limit + 1)
        items = [LedgerEntryOut(r.id, r.kind, r.amount, r.balance_after, r.created_at) for r in rows[:limit]]  # type: ignore[arg-type]
        return LedgerPage(items=items, next_cursor=next_cursor([r.id for r in rows], limit))

    # Used by the payments domain inside its own unit of work (lock order: ... -> wallet last).
    async def debit_for_payment(self, uow: UnitOfWork, user_id: int, amount: int, payment_id: int) -> int:
        """The new balance. Refused (nothing debited; the caller's transaction must roll back)
        without a wallet or with too little money."""
        repo = WalletRepository(uow.conn)
        balance = await repo.debit_for_payment(user_id, amount, payment_id)
        if balance is not None:
            return balance
        wallet = await repo.wallet_of_user(user_id)
        if wallet is None:
            raise WalletNotFound()
        raise InsufficientBalance(f"the balance is {wallet.balance:,} won; the price is {amount:,}")

    async def create_wallet(self, uow: UnitOfWork, user_id: int) -> int:
        return await WalletRepository(uow.conn).create(user_id)

"""Wallet use cases (seed flows 1 and 2): balance query, charge and ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import accumulate

import msgspec

from ticketing.core.coalesce import Coalescer
from ticketing.core.locking import retry_on_conflict
from ticketing.core.pagination import decode_cursor, next_cursor
from ticketing.core.security import Principal
from ticketing.core.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply
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
        self,
        uow_factory: UnitOfWorkFactory,
        idempotency: IdempotencyService,
        ensure_user_exists: Callable[[int], Awaitable[None]],
        *,
        max_charge: int,
        balance_cap: int,
    ) -> None:
        self._uow_factory = uow_factory
        self._idempotency = idempotency
        # The users domain's check (it raises USER_NOT_FOUND), passed in: users build on wallets.
        self._ensure_user_exists = ensure_user_exists
        self.max_charge = max_charge
        self.balance_cap = balance_cap
        # Charges without an Idempotency-Key, batched per (wallet, caller): see core/coalesce.py.
        self._charges: Coalescer[tuple[int, int], int, WalletRow] = Coalescer(self._charge_batch)

    async def _ensure_owner(self, user_id: int, owner_id: int | None) -> None:
        """The seed's order: wallet missing, then user missing, then wallet/user mismatch."""
        if owner_id is None:
            raise WalletNotFound()
        if owner_id != user_id:
            await self._ensure_user_exists(user_id)
            raise WalletUserMismatch()

    async def get_wallet(self, principal: Principal, wallet_id: int) -> WalletOut:
        async with self._uow_factory(autocommit=True) as uow:
            wallet = await WalletRepository(uow.conn).get(wallet_id)
        await self._ensure_owner(principal.user_id, wallet.user_id if wallet else None)
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

        # Two routes, on purpose: without a key, the charges of one wallet that arrive together are
        # credited by one statement (the coalescer: the hot-wallet rate); with a key, the key's row
        # must commit with its credit, so that charge is its own transaction.
        if idempotency is None:
            updated = await self._charges.submit((wallet_id, principal.user_id), won)
            return StoredReply(200, msgspec.json.encode(wallet_out(updated)))

        async def attempt() -> StoredReply:
            async with self._uow_factory() as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored
                [updated] = await self._credit(uow, wallet_id, principal.user_id, [won])
                reply = StoredReply(200, msgspec.json.encode(wallet_out(updated)))
                await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                await uow.commit()
            return reply

        return await retry_on_conflict(attempt)

    async def _credit(self, uow: UnitOfWork, wallet_id: int, user_id: int, amounts: list[int]) -> list[WalletRow]:
        """Credit every amount, or none: the wallet as each amount left it, in order."""
        outcome = await WalletRepository(uow.conn).charge(wallet_id, user_id, amounts, self.balance_cap)
        await self._ensure_owner(user_id, outcome.owner_id if outcome else None)
        assert outcome is not None
        if outcome.updated_at is None:
            raise BalanceLimitExceeded(
                f"the balance would be {outcome.balance_before + sum(amounts):,} won; the limit is {self.balance_cap:,}"
            )
        balances = accumulate(amounts, initial=outcome.balance_before)
        next(balances)
        return [WalletRow(wallet_id, user_id, balance, outcome.updated_at) for balance in balances]

    async def _credit_alone(self, wallet_id: int, user_id: int, amounts: list[int]) -> list[WalletRow]:
        """One statement as its own transaction, so the hot wallet's row lock is held for that
        statement only."""

        async def attempt() -> list[WalletRow]:
            async with self._uow_factory(autocommit=True) as uow:
                return await self._credit(uow, wallet_id, user_id, amounts)

        return await retry_on_conflict(attempt)

    async def _charge_batch(self, key: tuple[int, int], amounts: list[int]) -> list[WalletRow | BaseException]:
        wallet_id, user_id = key
        try:
            return list(await self._credit_alone(wallet_id, user_id, amounts))
        except BalanceLimitExceeded as error:
            if len(amounts) == 1:
                return [error]
        # Together they would pass the cap: judge each one alone, in arrival order.
        outcomes: list[WalletRow | BaseException] = []
        for amount in amounts:
            try:
                outcomes.extend(await self._credit_alone(wallet_id, user_id, [amount]))
            except Exception as error:  # this charge's own answer; the ones before it stand
                outcomes.append(error)
        return outcomes

    async def ledger(self, principal: Principal, wallet_id: int, cursor: str | None, limit: int) -> LedgerPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            repo = WalletRepository(uow.conn)
            wallet = await repo.get(wallet_id)
            await self._ensure_owner(principal.user_id, wallet.user_id if wallet else None)
            rows = await repo.ledger_page(wallet_id, before, limit + 1)
        items = [LedgerEntryOut(r.id, r.kind, r.amount, r.balance_after, r.created_at) for r in rows[:limit]]  # type: ignore[arg-type]
        return LedgerPage(items=items, next_cursor=next_cursor([r.id for r in rows], limit))

    # Used by the payments domain, in its own unit of work, after its debit found nothing to take.
    async def why_not_debited(self, uow: UnitOfWork, user_id: int, amount: int) -> Exception:
        wallet = await WalletRepository(uow.conn).wallet_of_user(user_id)
        if wallet is None:
            return WalletNotFound()
        return InsufficientBalance(f"the balance is {wallet.balance:,} won; the price is {amount:,}")

    # Used by the payments domain, in the refund's unit of work.
    @staticmethod
    async def credit_refund(uow: UnitOfWork, user_id: int, amount: int, payment_id: int) -> WalletOut:
        """Give a refunded payment's amount back to the payer's wallet, with its REFUND ledger row.
        Never refused for the balance cap (which bounds charges): a refund restores money that
        was there."""
        credited = await WalletRepository(uow.conn).credit_refund(user_id, amount, payment_id)
        if credited is None:
            raise WalletNotFound()
        return wallet_out(credited)

    async def create_wallet(self, uow: UnitOfWork, user_id: int) -> int:
        return await WalletRepository(uow.conn).create(user_id)

    async def create_funded_wallets(self, uow: UnitOfWork, user_ids: list[int], balance: int) -> dict[int, int]:
        """Wallets holding ``balance`` (charged, with their ledger rows), for fans created in bulk."""
        if not 0 <= balance <= self.balance_cap:
            raise BalanceLimitExceeded(f"the balance limit is {self.balance_cap:,} won")
        return await WalletRepository(uow.conn).create_funded(user_ids, balance)

    async def wallet_id_of(self, user_id: int) -> int:
        async with self._uow_factory(autocommit=True) as uow:
            wallet = await WalletRepository(uow.conn).wallet_of_user(user_id)
        if wallet is None:
            raise WalletNotFound()
        return wallet.id

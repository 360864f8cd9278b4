"""Wallet use cases: balance query, charge and ledger."""

from __future__ import annotations

import msgspec

from ticketing.idempotency.service import IdempotencyService, IdempotentRequest, StoredReply
from ticketing.kernel.coalesce import Coalescer
from ticketing.kernel.errors import AppError
from ticketing.kernel.locking import retry_on_conflict
from ticketing.kernel.pagination import decode_cursor, next_cursor
from ticketing.kernel.security import Principal
from ticketing.kernel.uow import UnitOfWork, UnitOfWorkFactory
from ticketing.users.errors import UserNotFound
from ticketing.wallets.errors import (
    BalanceLimitExceeded,
    InsufficientBalance,
    InvalidAmount,
    WalletNotFound,
    WalletUserMismatch,
)
from ticketing.wallets.repository import Charge, ChargeVerdict, WalletRepository, WalletRow
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
        *,
        max_charge: int,
        balance_cap: int,
    ) -> None:
        self._uow_factory = uow_factory
        self._idempotency = idempotency
        self.max_charge = max_charge
        self.balance_cap = balance_cap
        # Charges without an Idempotency-Key, whatever their wallet, in one queue (the key None):
        # those that arrive while the previous batch is in the database go together, one
        # statement and one commit (see kernel/coalesce.py and ``CHARGE``).
        self._charges: Coalescer[None, Charge, WalletRow] = Coalescer(self._charge_batch)

    async def _ensure_user_exists(self, user_id: int) -> None:
        """Every account has exactly one wallet, made in the account's own transaction and deleted
        with it (a unique foreign key, ``ON DELETE CASCADE``): no wallet, no user. So the wallets'
        own table answers, and this domain needs no call up into the users domain built on it."""
        async with self._uow_factory(autocommit=True) as uow:
            wallet = await uow.repo(WalletRepository).wallet_of_user(user_id)
        if wallet is None:
            raise UserNotFound("The signed-in user no longer exists")

    async def _ensure_owner(self, user_id: int, owner_id: int | None) -> None:
        """The seed's order: wallet missing, then user missing, then wallet/user mismatch."""
        if owner_id is None:
            raise WalletNotFound()
        if owner_id != user_id:
            await self._ensure_user_exists(user_id)
            raise WalletUserMismatch()

    async def get_wallet(self, principal: Principal, wallet_id: int) -> WalletOut:
        async with self._uow_factory(autocommit=True) as uow:
            wallet = await uow.repo(WalletRepository).get(wallet_id)
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

        # Two routes, on purpose: without a key, the charges that arrive together (of any wallets)
        # are credited by one statement and one commit (the group commit); with a key, the key's
        # row must commit with its credit, so that charge is its own transaction.
        charge = Charge(wallet_id, principal.user_id, won)

        async def attempt() -> StoredReply:
            async with self._uow_factory() as uow:
                stored = await self._idempotency.claim(uow, idempotency)
                if stored is not None:
                    return stored
                [verdict] = await uow.repo(WalletRepository).charge([charge], self.balance_cap)
                [answer] = self._judge([charge], [verdict])
                if not isinstance(answer, WalletRow):
                    assert answer is not None  # a lone charge is always decided
                    raise answer
                reply = StoredReply(200, msgspec.json.encode(wallet_out(answer)))
                await self._idempotency.remember(uow, idempotency, reply.status_code, reply.body)
                await uow.commit()
            return reply

        try:
            if idempotency is None:
                updated = await self._charges.submit(None, charge)
                return StoredReply(200, msgspec.json.encode(wallet_out(updated)))
            return await retry_on_conflict(attempt)
        except WalletUserMismatch:
            # The seed's order of checks (``_ensure_owner``): a caller whose user is gone hears that.
            await self._ensure_user_exists(principal.user_id)
            raise

    def _judge(self, charges: list[Charge], verdicts: list[ChargeVerdict]) -> list[WalletRow | AppError | None]:
        """Each charge's answer from the verdicts of one ``CHARGE`` statement, in arrival order:
        exactly what charging them one at a time in that order would have answered, as far as the
        statement decided it. Per wallet, the credited charges come first; each later one that
        would pass the cap on top of them is refused, until one that would fit: that one and every
        later one of its wallet are not decided (None) and go again, in a next statement."""
        credited_to: dict[int, int] = {}  # wallet id -> its balance after its credited charges
        undecided: set[int] = set()  # wallet ids
        answers: list[WalletRow | AppError | None] = []
        for charge, verdict in zip(charges, verdicts, strict=True):
            if verdict.owner_id is None:
                answers.append(WalletNotFound())
            elif verdict.owner_id != charge.user_id:
                answers.append(WalletUserMismatch())
            elif verdict.updated_at is not None:
                assert verdict.balance_after is not None
                credited_to[charge.wallet_id] = verdict.balance_after
                answers.append(WalletRow(charge.wallet_id, charge.user_id, verdict.balance_after, verdict.updated_at))
            else:
                assert verdict.balance_before is not None
                balance = credited_to.get(charge.wallet_id, verdict.balance_before)
                if charge.wallet_id in undecided or balance + charge.amount <= self.balance_cap:
                    undecided.add(charge.wallet_id)
                    answers.append(None)
                else:
                    answers.append(
                        BalanceLimitExceeded(
                            f"the balance would be {balance + charge.amount:,} won; the limit is {self.balance_cap:,}"
                        )
                    )
        return answers

    async def _one_statement(self, charges: list[Charge]) -> list[WalletRow | AppError | None]:
        """One ``CHARGE`` statement as its own transaction (autocommit), so the row locks are held
        for that statement and its commit only."""

        async def attempt() -> list[WalletRow | AppError | None]:
            async with self._uow_factory(autocommit=True) as uow:
                verdicts = await uow.repo(WalletRepository).charge(charges, self.balance_cap)
            return self._judge(charges, verdicts)

        return await retry_on_conflict(attempt)

    async def _charge_batch(self, _: None, charges: list[Charge]) -> list[WalletRow | BaseException]:
        """One statement for the whole batch; only charges it left undecided (near the cap: one
        that may still fit after an earlier one of its wallet was refused) go again, in a next
        statement — each round decides at least the first pending charge of every wallet."""
        answers: dict[int, WalletRow | BaseException] = {}
        pending = list(range(len(charges)))
        while pending:
            try:
                outcomes = await self._one_statement([charges[i] for i in pending])
            except Exception as error:
                if not answers:  # nothing of the batch was applied: the coalescer tells them all
                    raise
                answers.update((i, error) for i in pending)  # the ones decided before stand
                break
            for i, outcome in zip(pending, outcomes, strict=True):
                if outcome is not None:
                    answers[i] = outcome
            pending = [i for i in pending if i not in answers]
        return [answers[i] for i in range(len(charges))]

    async def ledger(self, principal: Principal, wallet_id: int, cursor: str | None, limit: int) -> LedgerPage:
        before = decode_cursor(cursor)
        async with self._uow_factory(autocommit=True) as uow:
            repo = uow.repo(WalletRepository)
            wallet = await repo.get(wallet_id)
            await self._ensure_owner(principal.user_id, wallet.user_id if wallet else None)
            rows = await repo.ledger_page(wallet_id, before, limit + 1)
        items = [LedgerEntryOut(r.id, r.kind, r.amount, r.balance_after, r.created_at) for r in rows[:limit]]  # type: ignore[arg-type]
        return LedgerPage(items=items, next_cursor=next_cursor([r.id for r in rows], limit))

    # Used by the payments domain, in its own unit of work, after its debit found nothing to take.
    async def why_not_debited(self, uow: UnitOfWork, user_id: int, amount: int) -> Exception:
        wallet = await uow.repo(WalletRepository).wallet_of_user(user_id)
        if wallet is None:
            return WalletNotFound()
        return InsufficientBalance(f"the balance is {wallet.balance:,} won; the price is {amount:,}")

    # Used by the payments domain, in the refund's unit of work.
    @staticmethod
    async def credit_refund(uow: UnitOfWork, user_id: int, amount: int, payment_id: int) -> WalletOut:
        """Give a refunded payment's amount back to the payer's wallet, with its REFUND ledger row.
        Never refused for the balance cap (which bounds charges): a refund restores money that
        was there."""
        credited = await uow.repo(WalletRepository).credit_refund(user_id, amount, payment_id)
        if credited is None:
            raise WalletNotFound()
        return wallet_out(credited)

    async def create_wallet(self, uow: UnitOfWork, user_id: int) -> int:
        return await uow.repo(WalletRepository).create(user_id)

    async def create_funded_wallets(self, uow: UnitOfWork, user_ids: list[int], balance: int) -> dict[int, int]:
        """Wallets holding ``balance`` (charged, with their ledger rows), for fans created in bulk."""
        if not 0 <= balance <= self.balance_cap:
            raise BalanceLimitExceeded(f"the balance limit is {self.balance_cap:,} won")
        return await uow.repo(WalletRepository).create_funded(user_ids, balance)

    async def wallet_id_of(self, user_id: int) -> int:
        async with self._uow_factory(autocommit=True) as uow:
            wallet = await uow.repo(WalletRepository).wallet_of_user(user_id)
        if wallet is None:
            raise WalletNotFound()
        return wallet.id

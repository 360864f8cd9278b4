from __future__ import annotations

from litestar import Controller, get, post

from ticketing.container import services
from ticketing.edge.auth import AuthedRequest, account_checks
from ticketing.edge.openapi import body_of, error_responses
from ticketing.edge.pagination import CursorParam, LimitParam
from ticketing.edge.params import IdempotencyKeyHeader, PathId, idempotent_post
from ticketing.edge.rate_limit_hooks import enforce
from ticketing.edge.responses import JsonBytes
from ticketing.kernel.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    RateLimited,
)
from ticketing.kernel.pagination import DEFAULT_LIMIT
from ticketing.users.errors import UserNotFound
from ticketing.wallets.errors import BalanceLimitExceeded, InvalidAmount, WalletNotFound, WalletUserMismatch
from ticketing.wallets.schemas import ChargeIn, LedgerPage, WalletOut

_OWNER_ERRORS = (WalletNotFound, UserNotFound, WalletUserMismatch)


class WalletController(Controller):
    path = "/api/v1/wallets"
    tags = ["wallets"]
    before_request = staticmethod(account_checks)

    @get("/{wallet_id:str}", responses=error_responses(*_OWNER_ERRORS), summary="Balance")
    async def get_wallet(self, wallet_id: PathId, request: AuthedRequest) -> WalletOut:
        return await services(request).wallets.get_wallet(request.user, wallet_id)

    @post(
        "/{wallet_id:str}/charges",
        status_code=200,
        before_request=account_checks,
        responses={
            200: body_of(WalletOut),
            **error_responses(
                *_OWNER_ERRORS,
                InvalidAmount,
                BalanceLimitExceeded,
                IdempotencyKeyReused,
                IdempotencyKeyInUse,
                RateLimited,
            ),
        },
        summary="Charge the wallet; send an Idempotency-Key to retry safely",
    )
    async def charge(
        self,
        wallet_id: PathId,
        data: ChargeIn,
        request: AuthedRequest,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JsonBytes:
        # Per account (TICKETING_RATE_LIMIT_CHARGE_PER_ACCOUNT): every charge locks the wallet and
        # writes a ledger row; a fan tops up a few times, a script thousands of times a second.
        await enforce(request, "charge", account=str(request.user.user_id))
        idem = idempotent_post(request, idempotency_key, data)
        reply = await services(request).wallets.charge(request.user, wallet_id, data.amount, idem)
        return JsonBytes(reply.body, reply.status_code)

    @get("/{wallet_id:str}/ledger", responses=error_responses(*_OWNER_ERRORS), summary="Ledger, newest first")
    async def ledger(
        self,
        wallet_id: PathId,
        request: AuthedRequest,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> LedgerPage:
        return await services(request).wallets.ledger(request.user, wallet_id, cursor, limit)

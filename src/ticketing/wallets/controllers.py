from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter

from ticketing.core.errors import IdempotencyKeyInUse, IdempotencyKeyReused, Unauthenticated
from ticketing.core.http import AuthedRequest, require_user
from ticketing.core.openapi import error_responses
from ticketing.core.pagination import DEFAULT_LIMIT, CursorParam, LimitParam
from ticketing.core.params import PathId
from ticketing.idempotency.service import idempotent_request
from ticketing.users.errors import UserNotFound
from ticketing.wallets.dependencies import provide_wallet_service
from ticketing.wallets.errors import BalanceLimitExceeded, InvalidAmount, WalletNotFound, WalletUserMismatch
from ticketing.wallets.schemas import ChargeIn, LedgerPage, WalletOut
from ticketing.wallets.service import WalletService

IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]

_OWNER_ERRORS = (Unauthenticated, WalletNotFound, UserNotFound, WalletUserMismatch)


class WalletController(Controller):
    path = "/api/v1/wallets"
    tags = ["wallets"]
    guards = [require_user]
    dependencies = {"wallets": Provide(provide_wallet_service, sync_to_thread=False)}

    @get("/{wallet_id:str}", responses=error_responses(*_OWNER_ERRORS), summary="Balance (seed flow 1)")
    async def get_wallet(self, wallet_id: PathId, request: AuthedRequest, wallets: WalletService) -> WalletOut:
        return await wallets.get_wallet(request.user, wallet_id)

    @post(
        "/{wallet_id:str}/charges",
        status_code=200,
        responses=error_responses(
            *_OWNER_ERRORS, InvalidAmount, BalanceLimitExceeded, IdempotencyKeyReused, IdempotencyKeyInUse
        ),
        summary="Charge the wallet (seed flow 2); send an Idempotency-Key to retry safely",
    )
    async def charge(
        self,
        wallet_id: PathId,
        data: ChargeIn,
        request: AuthedRequest,
        wallets: WalletService,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        idem = idempotent_request(
            request.user.user_id, idempotency_key, "POST", request.url.path, msgspec.json.encode(data)
        )
        reply = await wallets.charge(request.user, wallet_id, data.amount, idem)
        return Response(content=reply.body, status_code=reply.status_code, media_type="application/json")

    @get("/{wallet_id:str}/ledger", responses=error_responses(*_OWNER_ERRORS), summary="Ledger, newest first")
    async def ledger(
        self,
        wallet_id: PathId,
        request: AuthedRequest,
        wallets: WalletService,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> LedgerPage:
        return await wallets.ledger(request.user, wallet_id, cursor, limit)

"""Demo data for local runs: the operator account and a few fans with money in their wallets.
Loading twice changes nothing."""

from __future__ import annotations

import structlog

from ticketing.container import Services
from ticketing.core.security import Principal
from ticketing.idempotency.service import idempotent_request
from ticketing.users.errors import UserNameTaken

log = structlog.get_logger("ticketing.demo")

DEMO_FAN_PASSWORD = "password123"  # noqa: S105 - documented demo credential, local runs only
DEMO_FANS = {"alice": 500_000, "bob": 300_000, "carol": 100_000}


async def load_demo_data(services: Services) -> None:
    settings = services.settings
    await services.users.ensure_operator("admin", settings.admin_password)
    for name, balance in DEMO_FANS.items():
        try:
            user = await services.users.sign_up(name, DEMO_FAN_PASSWORD)
        except UserNameTaken:
            continue  # already loaded
        principal = Principal(user_id=user.id, name=user.name, role="fan")
        key = idempotent_request(user.id, "demo-initial-balance", "POST", "demo", b"")
        await services.wallets.charge(principal, user.wallet_id, balance, key)
    log.info("demo data loaded", operator="admin", fans=list(DEMO_FANS))

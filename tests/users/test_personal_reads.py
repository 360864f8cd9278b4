"""Signing out means out (docs/api.md): after ``DELETE /api/v1/auth/token`` or a
password change, every endpoint that shows the fan's own data refuses the old token at once, not
only the writes; and every personal answer carries ``Cache-Control: no-store``."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import PASSWORD, create_user
from tests.support import assert_problem
from tests.tickets.purchases import Purchase, buy, ticket_of
from ticketing.container import Services

Client = AsyncTestClient[Litestar]

# Every personal read, with the placeholders filled from one purchase (the queue join is a write
# of the fan's own: it answers the fan's token and position).
PERSONAL = [
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/wallets/{wallet_id}"),
    ("GET", "/api/v1/wallets/{wallet_id}/ledger"),
    ("GET", "/api/v1/reservations"),
    ("GET", "/api/v1/reservations/{reservation_id}"),
    ("GET", "/api/v1/payments"),
    ("GET", "/api/v1/tickets"),
    ("GET", "/api/v1/tickets/{ticket_id}"),
    ("GET", "/api/v1/tickets/{ticket_id}/qr.svg"),
    ("POST", "/api/v1/concerts/{concert_id}/queue/tokens"),
]


async def urls_of(services: Services, purchase: Purchase) -> list[tuple[str, str]]:
    ticket = await ticket_of(services, purchase.payment_id)
    values = {
        "wallet_id": purchase.fan.wallet_id,
        "reservation_id": purchase.payments[0]["reservation_id"],
        "ticket_id": ticket["id"],
        "concert_id": purchase.concert_id,
    }
    return [(method, path.format(**values)) for method, path in PERSONAL]


async def sign_out(client: Client, purchase: Purchase) -> None:
    assert (await client.delete("/api/v1/auth/token", headers=purchase.fan.headers)).status_code == 204


async def change_password(client: Client, purchase: Purchase) -> None:
    changed = await client.put(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "a-brand-new-password"},
        headers=purchase.fan.headers,
    )
    assert changed.status_code == 200, changed.text


@pytest.mark.parametrize("revoke", [sign_out, change_password], ids=["sign-out", "password-change"])
async def test_every_personal_read_refuses_a_revoked_token_at_once(
    client: Client, services: Services, revoke: object
) -> None:
    purchase = await buy(services)
    urls = await urls_of(services, purchase)
    for method, url in urls:
        answer = await client.request(method, url, headers=purchase.fan.headers)
        assert answer.status_code in (200, 201), f"{method} {url}: {answer.status_code} {answer.text}"
        assert answer.headers.get("cache-control") == "no-store", f"{method} {url}"

    assert callable(revoke)
    await revoke(client, purchase)

    for method, url in urls:
        refused = await client.request(method, url, headers=purchase.fan.headers)
        assert refused.status_code == 401, f"{method} {url} still answers a revoked token: {refused.status_code}"
        assert_problem(refused, 401, "UNAUTHENTICATED")
        assert refused.headers.get("cache-control") == "no-store", f"{method} {url}"


async def test_public_and_sale_reads_carry_no_no_store(client: Client, services: Services) -> None:
    """The public list and the operations endpoints are not personal: no ``no-store`` added."""
    fan = await create_user(services)
    for path in ("/api/v1/concerts", "/healthz"):
        answer = await client.get(path, headers=fan.headers)
        assert answer.status_code == 200
        assert answer.headers.get("cache-control") != "no-store", path

"""A dependency that is down answers 503 SERVICE_UNAVAILABLE quickly, never a 500 or a hang."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from tests.factories import create_user
from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.devservers.embedded import free_port
from ticketing.main import create_app


async def test_database_down_is_503(settings: Settings, services: Services) -> None:
    user = await create_user(services)
    dead = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})
    async with AsyncTestClient(app=create_app(dead)) as client:
        assert_problem(
            await client.get(f"/api/v1/wallets/{user.wallet_id}", headers=user.headers), 503, "SERVICE_UNAVAILABLE"
        )
        assert_problem(
            await client.post(f"/api/v1/wallets/{user.wallet_id}/charges", json={"amount": 1}, headers=user.headers),
            503,
            "SERVICE_UNAVAILABLE",
        )
        ready = await client.get("/readyz")
        body = assert_problem(ready, 503, "SERVICE_UNAVAILABLE")
        assert body["postgres"] is False
        assert body["redis"] is True
        assert (await client.get("/healthz")).status_code == 200


async def test_redis_down_makes_readiness_fail(settings: Settings) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with AsyncTestClient(app=create_app(dead)) as client:
        body = assert_problem(await client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
        assert body["redis"] is False
        assert body["postgres"] is True

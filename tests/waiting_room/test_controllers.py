from __future__ import annotations

import time

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_user
from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.container import Services
from ticketing.devservers.embedded import EmbeddedRedis, free_port
from ticketing.main import create_app

Client = AsyncTestClient[Litestar]


async def test_issue_and_poll_over_http(client: Client, services: Services) -> None:
    concert = await create_concert(services)
    user = await create_user(services)
    url = f"/api/v1/concerts/{concert}/queue/tokens"
    first = await client.post(url, headers=user.headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "WAITING"
    assert body["position"] == 1
    assert body["concert_id"] == concert
    assert body["user_id"] == user.id
    assert body["eta_seconds"] >= 1
    assert body["expires_at"].endswith(("Z", "+00:00"))
    again = await client.post(url, headers=user.headers)
    assert again.status_code == 200
    assert again.json()["token"] == body["token"]

    info = await client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": body["token"]})
    assert info.status_code == 200
    got = info.json()
    assert got["user"] == {"id": user.id, "name": user.name}
    assert got["status"] == "WAITING"
    assert got["position"] == 1
    assert 0 < got["remaining_seconds"] <= services.settings.queue_waiting_grace_seconds

    await services.waiting_room.admit(concert)
    active = (await client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": body["token"]})).json()
    assert active["status"] == "ACTIVE"
    assert active["position"] is None
    assert active["eta_seconds"] is None


async def test_queue_errors_over_http(client: Client, services: Services) -> None:
    user = await create_user(services)
    assert_problem(await client.post("/api/v1/concerts/1/queue/tokens"), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.post("/api/v1/concerts/999/queue/tokens", headers=user.headers), 404, "CONCERT_NOT_FOUND"
    )
    assert_problem(
        await client.post("/api/v1/concerts/abc/queue/tokens", headers=user.headers), 422, "VALIDATION_ERROR"
    )
    assert_problem(await client.get("/api/v1/queue/tokens/me"), 401, "TOKEN_INVALID")
    assert_problem(await client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": "nope"}), 401, "TOKEN_INVALID")


async def test_redis_unreachable_is_a_quick_503(settings: Settings, services: Services) -> None:
    concert = await create_concert(services)
    user = await create_user(services)
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with AsyncTestClient(app=create_app(dead)) as client:
        started = time.monotonic()
        assert_problem(
            await client.post(f"/api/v1/concerts/{concert}/queue/tokens", headers=user.headers),
            503,
            "SERVICE_UNAVAILABLE",
        )
        # A well-signed token whose queue this process has never seen: no view to answer from.
        token = services.waiting_room.codec.encode(concert, "e0e0e0e0", 1, user.id, 1_800_000_000, user.name)
        assert_problem(
            await client.get("/api/v1/queue/tokens/me", headers={"X-Queue-Token": token}), 503, "SERVICE_UNAVAILABLE"
        )
        assert time.monotonic() - started < 30  # bounded, not a hang (the bound itself is benchmarked)


async def test_queue_recovers_when_redis_returns(settings: Settings, services: Services, tmp_path: object) -> None:
    concert = await create_concert(services)
    user = await create_user(services)
    redis_server = EmbeddedRedis(services.settings.data_dir / "own-valkey")
    url = redis_server.start()
    try:
        async with AsyncTestClient(app=create_app(settings.model_copy(update={"redis_url": url}))) as client:
            path = f"/api/v1/concerts/{concert}/queue/tokens"
            assert (await client.post(path, headers=user.headers)).status_code == 201
            redis_server.stop()
            assert_problem(await client.post(path, headers=user.headers), 503, "SERVICE_UNAVAILABLE")
            redis_server.start()  # same port, empty data: the service reconnects by itself
            assert (await client.post(path, headers=user.headers)).status_code == 201
    finally:
        redis_server.stop()

"""``GET /metrics`` is restricted: with ``TICKETING_METRICS_TOKEN`` it needs
that bearer token; without it, production serves it to direct loopback clients only; local mode
(``make run``, ``make bench``, the tests) stays open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tests.support import assert_problem
from ticketing.config import Settings
from ticketing.main import create_app

Get = Callable[..., Awaitable[httpx.Response]]
TOKEN = "metrics-" + "t" * 32  # noqa: S105 - a test value


@pytest.fixture
async def metrics_get(settings: Settings) -> AsyncIterator[Callable[..., Get]]:
    """``make(env=..., token=..., client=...)`` -> a GET of the app with those settings, from that
    client address (the ASGI scope's ``client``)."""
    clients: list[httpx.AsyncClient] = []

    def make(env: str = "production", token: str = "", client: str = "127.0.0.1") -> Get:
        app = create_app(settings.model_copy(update={"env": env, "metrics_token": token}))
        transport = httpx.ASGITransport(
            app=app,  # type: ignore[arg-type]  # httpx types ASGI scopes as MutableMapping, Litestar as TypedDicts
            client=(client, 40000),
        )
        http = httpx.AsyncClient(transport=transport, base_url="http://service.test")
        clients.append(http)
        return http.get

    yield make
    for http in clients:
        await http.aclose()


def assert_metrics(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "ticketing_" in response.text or "python_" in response.text


async def test_production_without_a_token_serves_loopback_clients_only(metrics_get: Callable[..., Get]) -> None:
    assert_metrics(await metrics_get(client="127.0.0.1")("/metrics"))
    assert_metrics(await metrics_get(client="::1")("/metrics"))
    assert_problem(await metrics_get(client="203.0.113.7")("/metrics"), 403, "FORBIDDEN")
    assert_problem(await metrics_get(client="10.0.0.2")("/metrics"), 403, "FORBIDDEN")
    # A reverse proxy on this machine connects from loopback for any client: not enough.
    get = metrics_get(client="127.0.0.1")
    forwarded = await get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert_problem(forwarded, 403, "FORBIDDEN")
    assert_problem(await get("/metrics", headers={"Forwarded": "for=203.0.113.7"}), 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "header",
    [
        "Forwarded",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Real-IP",
        "X-Client-IP",
        "True-Client-IP",
        "CF-Connecting-IP",
        "Fastly-Client-IP",
        "X-Cluster-Client-IP",
        "Client-IP",
        "Via",
    ],
)
async def test_production_refuses_any_forwarded_client_header_from_loopback(
    metrics_get: Callable[..., Get], header: str
) -> None:
    """The probe's proxies sent X-Client-IP, True-Client-IP or CF-Connecting-IP: each says a client
    stands behind the loopback peer."""
    get = metrics_get(client="127.0.0.1")
    assert_problem(await get("/metrics", headers={header: "203.0.113.7"}), 403, "FORBIDDEN")
    # With the token set, the token decides, whatever the proxy added.
    with_token = metrics_get(token=TOKEN, client="127.0.0.1")
    assert_metrics(await with_token("/metrics", headers={header: "203.0.113.7", "Authorization": f"Bearer {TOKEN}"}))


async def test_a_token_is_required_when_set(metrics_get: Callable[..., Get]) -> None:
    for env in ("production", "local"):
        get = metrics_get(env=env, token=TOKEN, client="203.0.113.7")
        missing = await get("/metrics")
        assert_problem(missing, 401, "UNAUTHENTICATED")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_problem(await get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "UNAUTHENTICATED")
        assert_problem(await get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}), 401, "UNAUTHENTICATED")
        assert_problem(await get("/metrics", headers={"Authorization": "Bearer"}), 401, "UNAUTHENTICATED")
        assert_metrics(await get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))
    # Loopback is no way around a token that is set.
    loopback = metrics_get(token=TOKEN, client="127.0.0.1")
    assert_problem(await loopback("/metrics"), 401, "UNAUTHENTICATED")


async def test_local_mode_stays_open(metrics_get: Callable[..., Get]) -> None:
    assert_metrics(await metrics_get(env="local", client="203.0.113.7")("/metrics"))

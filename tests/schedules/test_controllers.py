"""The operators' schedule endpoint over HTTP: who may create dates, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import create_concert, create_user
from tests.support import Client, assert_problem
from ticketing.container import Services


async def test_operator_schedule_validation(client: Client, services: Services) -> None:
    admin = await create_user(services, role="admin")
    fan = await create_user(services)
    concert = await create_concert(services)
    now = datetime.now(UTC)
    good = {
        "starts_at": (now + timedelta(days=2)).isoformat(),
        "reservation_opens_at": now.isoformat(),
        "reservation_closes_at": (now + timedelta(days=1)).isoformat(),
        "seat_count": 50,
        "price": 1000,
    }
    url = f"/api/v1/admin/concerts/{concert}/schedules"
    assert_problem(await client.post(url, json=good, headers=fan.headers), 403, "FORBIDDEN")
    assert_problem(await client.post(url, json=good), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.post("/api/v1/admin/concerts/999/schedules", json=good, headers=admin.headers),
        404,
        "CONCERT_NOT_FOUND",
    )
    bad_cases = [
        {**good, "seat_count": 0},
        {**good, "seat_count": 10_001},
        {**good, "price": 0},
        {**good, "price": 1.5},
        {**good, "reservation_closes_at": good["reservation_opens_at"]},
        {**good, "reservation_closes_at": (now + timedelta(days=3)).isoformat()},
        {**good, "starts_at": "not a date"},
        {**good, "starts_at": "2026-12-01T10:00:00"},  # no offset
        {**good, "surprise": 1},
    ]
    for body in bad_cases:
        assert_problem(await client.post(url, json=body, headers=admin.headers), 422, "VALIDATION_ERROR")
    assert_problem(
        await client.post("/api/v1/admin/concerts", json={"title": ""}, headers=admin.headers), 422, "VALIDATION_ERROR"
    )
    big = await client.post(url, json={**good, "seat_count": 10_000}, headers=admin.headers)
    assert big.status_code == 201
    assert len(big.json()["seats"]) == 10_000

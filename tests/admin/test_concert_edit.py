"""PATCH /api/v1/admin/concerts/{id}: an operator edits a concert (issue 25)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import create_concert, create_user
from tests.support import assert_problem
from ticketing.container import Services


async def test_an_operator_edits_only_the_fields_sent(client: AsyncTestClient[Litestar], services: Services) -> None:
    admin = await create_user(services, role="admin")
    created = await client.post(
        "/api/v1/admin/concerts", json={"title": "Old", "venue": "Hall", "description": "x"}, headers=admin.headers
    )
    concert = created.json()["id"]
    url = f"/api/v1/admin/concerts/{concert}"
    edited = await client.patch(url, json={"title": "New title"}, headers=admin.headers)
    assert edited.status_code == 200
    assert edited.json() == {"id": concert, "title": "New title", "venue": "Hall", "description": "x"}
    cleared = await client.patch(url, json={"venue": None}, headers=admin.headers)
    assert cleared.json() == {"id": concert, "title": "New title", "venue": None, "description": "x"}
    unchanged = await client.patch(url, json={}, headers=admin.headers)
    assert unchanged.json() == cleared.json()
    assert (await client.get(f"/api/v1/concerts/{concert}")).json()["title"] == "New title"


async def test_a_hostile_edit_is_refused_and_changes_nothing(
    client: AsyncTestClient[Litestar], services: Services
) -> None:
    admin = await create_user(services, role="admin")
    fan = await create_user(services)
    concert = await create_concert(services, "Kept")
    url = f"/api/v1/admin/concerts/{concert}"
    bodies: list[object] = [
        {"title": None},
        {"title": ""},
        {"title": "x" * 201},
        {"rating": 5},
        {"title": "a\u0000b"},
        [],
    ]
    for body in bodies:
        assert_problem(await client.patch(url, json=body, headers=admin.headers), 422, "VALIDATION_ERROR")
    assert_problem(await client.patch(url, json={"title": "x"}, headers=fan.headers), 403, "FORBIDDEN")
    assert_problem(await client.patch(url, json={"title": "x"}), 401, "UNAUTHENTICATED")
    assert_problem(
        await client.patch("/api/v1/admin/concerts/999999", json={"title": "x"}, headers=admin.headers),
        404,
        "CONCERT_NOT_FOUND",
    )
    assert_problem(
        await client.patch("/api/v1/admin/concerts/1e0", json={"title": "x"}, headers=admin.headers),
        422,
        "VALIDATION_ERROR",
    )
    assert (await services.concerts.get_concert(concert)).title == "Kept"

"""A display name apart from the sign-in name (issue 25): Korean welcome, look-alike script
mixes refused with the reason (422 INVALID_DISPLAY_NAME) and nothing written."""

from __future__ import annotations

import pytest

from tests.factories import create_user
from tests.support import Client, assert_problem
from ticketing.container import Services
from ticketing.users.names import clean_display_name, display_name_fault

PASSWORD = "a-fine-password"  # noqa: S105

GOOD = ["김민준", "Kim 민준", "山田 太郎", "Jöhn O'Neil", "Дмитрий", "가" * 20, "민준·KIM"]
BAD = {
    "p\u0430ypal": "mix these scripts",  # a Cyrillic a among Latin letters
    "민준😀": "GRINNING FACE",
    "a\u200bb": "ZERO WIDTH SPACE",
    "민준  KIM": "single spaces",
    "123": "at least one letter",
    "가" * 21: "at most 20",
    "e\u0301\u0301\u0301\u0301\u0301": "combining marks",
}


@pytest.mark.parametrize("name", GOOD)
def test_a_display_name_may_be_korean_or_one_script(name: str) -> None:
    assert display_name_fault(clean_display_name(name)) is None


@pytest.mark.parametrize("name", list(BAD))
def test_a_display_name_that_could_pass_for_another_is_refused_with_the_reason(name: str) -> None:
    fault = display_name_fault(clean_display_name(name))
    assert fault is not None and BAD[name] in fault


def test_hangul_with_katakana_is_a_mix_tr39_does_not_allow() -> None:
    fault = display_name_fault("민준ミン")
    assert fault is not None and "Hangul" in fault and "Katakana" in fault


def test_a_display_name_is_stored_in_nfc_without_outer_spaces() -> None:
    assert clean_display_name(" Jo\u0308hn ") == "J\u00f6hn"


async def user_count(services: Services) -> int:
    async with services.uow() as uow:
        return int(await uow.conn.fetchval("SELECT count(*) FROM users"))


async def test_sign_up_with_a_korean_display_name_keeps_the_sign_in_name_apart(client: Client) -> None:
    created = await client.post(
        "/api/v1/users", json={"name": "minjun.kim", "password": PASSWORD, "display_name": " 김민준 "}
    )
    assert created.status_code == 201, created.text
    assert created.json()["display_name"] == "김민준"
    token = await client.post("/api/v1/auth/token", json={"name": "minjun.kim", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    me = (await client.get("/api/v1/users/me", headers=headers)).json()
    assert (me["name"], me["display_name"]) == ("minjun.kim", "김민준")
    # A Korean sign-in name is still refused: the display name is where it goes.
    assert_problem(
        await client.post("/api/v1/users", json={"name": "김민준", "password": PASSWORD}), 422, "VALIDATION_ERROR"
    )


async def test_a_refused_display_name_creates_no_account(client: Client, services: Services) -> None:
    before = await user_count(services)
    problem = assert_problem(
        await client.post(
            "/api/v1/users", json={"name": "mixed.fan", "password": PASSWORD, "display_name": "p\u0430ypal"}
        ),
        422,
        "INVALID_DISPLAY_NAME",
    )
    assert "Cyrillic" in problem["detail"]
    assert await user_count(services) == before
    for hostile in ("a\x00b", "x" * 65, 42, ["김"]):
        assert_problem(
            await client.post(
                "/api/v1/users", json={"name": "hostile.fan", "password": PASSWORD, "display_name": hostile}
            ),
            422,
            "VALIDATION_ERROR",
        )
    assert await user_count(services) == before


async def test_a_fan_sets_changes_and_removes_the_display_name(client: Client, services: Services) -> None:
    fan = await create_user(services, name="renamed.fan")
    url = "/api/v1/users/me/display-name"
    assert_problem(await client.put(url, json={"display_name": "김"}), 401, "UNAUTHENTICATED")
    set_ = await client.put(url, json={"display_name": "이서연"}, headers=fan.headers)
    assert set_.status_code == 200, set_.text
    assert (set_.json()["name"], set_.json()["display_name"]) == ("renamed.fan", "이서연")
    problem = assert_problem(
        await client.put(url, json={"display_name": "이서연😀"}, headers=fan.headers), 422, "INVALID_DISPLAY_NAME"
    )
    assert "GRINNING FACE" in problem["detail"]
    assert (await client.get("/api/v1/users/me", headers=fan.headers)).json()["display_name"] == "이서연"
    assert_problem(await client.put(url, json={}, headers=fan.headers), 422, "VALIDATION_ERROR")
    removed = await client.put(url, json={"display_name": None}, headers=fan.headers)
    assert removed.status_code == 200 and removed.json()["display_name"] is None

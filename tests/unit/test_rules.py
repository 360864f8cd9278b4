"""Pure rules, no I/O."""

from __future__ import annotations

import time

import pytest

from ticketing.idempotency.service import idempotent_request
from ticketing.kernel.errors import ValidationError
from ticketing.kernel.pagination import FIRST_PAGE, decode_cursor, next_cursor
from ticketing.kernel.security import Principal, issue_access_token, read_access_token
from ticketing.wallets.errors import InvalidAmount
from ticketing.wallets.service import validate_amount


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", True, False, None, 10**20, 1001, [], {}])
def test_invalid_amounts(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        validate_amount(amount, 1000)


@pytest.mark.parametrize("amount", [1, 999, 1000])
def test_valid_amounts(amount: int) -> None:
    assert validate_amount(amount, 1000) == amount


def test_access_tokens_round_trip_and_expire() -> None:
    principal = Principal(user_id=7, name="fan", role="fan")
    token = issue_access_token(principal, secret="k" * 40, ttl_seconds=60)
    assert read_access_token(token, secret="k" * 40) == principal
    assert read_access_token(token, secret="other" * 10) is None
    expired = issue_access_token(principal, secret="k" * 40, ttl_seconds=60, now=time.time() - 120)
    assert read_access_token(expired, secret="k" * 40) is None
    assert read_access_token("garbage", secret="k" * 40) is None


def test_a_remembered_token_still_expires() -> None:
    principal = Principal(user_id=8, name="fan", role="fan")
    token = issue_access_token(principal, secret="k" * 40, ttl_seconds=60, now=time.time() - 58)  # 1-2 s left
    assert read_access_token(token, secret="k" * 40) == principal  # verified, then remembered
    assert read_access_token(token, secret="k" * 40) == principal
    assert read_access_token(token, secret="other" * 10) is None  # remembered per secret
    expires_at = int(time.time() - 58) + 60
    time.sleep(max(0.0, expires_at - time.time()) + 0.05)
    assert read_access_token(token, secret="k" * 40) is None


def test_idempotency_hash_covers_method_path_and_body() -> None:
    base = idempotent_request(1, "k", "POST", "/a", b"{}")
    assert base is not None
    assert idempotent_request(1, "k", "POST", "/a", b"{}") == base
    for other in (("PUT", "/a", b"{}"), ("POST", "/b", b"{}"), ("POST", "/a", b"{ }")):
        changed = idempotent_request(1, "k", *other)
        assert changed is not None
        assert changed.request_hash != base.request_hash
    assert idempotent_request(1, None, "POST", "/a", b"") is None
    for bad in ("", "x" * 256, "tab\there"):
        with pytest.raises(ValidationError):
            idempotent_request(1, bad, "POST", "/a", b"")


def test_cursors() -> None:
    assert decode_cursor(None) == FIRST_PAGE
    assert decode_cursor("") == FIRST_PAGE
    assert decode_cursor("42") == 42
    assert decode_cursor(str(2**63 - 1)) == 2**63 - 1
    for bad in ("-1", "0", "abc", "1.5", str(2**63)):  # past bigint: refused, never sent to the database
        with pytest.raises(ValidationError):
            decode_cursor(bad)
    assert next_cursor([9, 8, 7, 6], 3) == "7"
    assert next_cursor([9, 8, 7], 3) is None

"""The access token's own HS256 path (``kernel/security.py``: a token exactly as the service issues
it is checked without PyJWT) answers as PyJWT does, on good tokens and on hostile ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from ticketing.kernel import security
from ticketing.kernel.ids import canonical_positive_int
from ticketing.kernel.security import ROLES, Principal, issue_access_token, read_access_token

SECRET = "a-secret-of-the-service-" + "s" * 40
OTHER = "another-secret-entirely-" + "o" * 40
NOW = int(time.time())
DAY = 86_400  # the corpus is made at collection: its good tokens must outlive a long test session


def reference(token: str, secret: str) -> Principal | None:
    """The service's check as it was, through PyJWT alone."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        role = claims.get("role", "fan")
        version = claims.get("ver", 0)
        if role not in ROLES or type(version) is not int or not 0 <= version < 2**31:
            return None
        user_id = canonical_positive_int(claims["sub"]) if isinstance(claims["sub"], str) else None
        if user_id is None:
            return None
        return Principal(user_id=user_id, name=str(claims.get("name", "")), role=role, token_version=version)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: bytes | dict[str, Any], payload: bytes | dict[str, Any], secret: str = SECRET) -> str:
    head = segment(header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode())
    body = segment(payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{segment(signature)}"


HS256 = {"alg": "HS256", "typ": "JWT"}
CLAIMS = {"sub": "42", "name": "fan42", "role": "fan", "ver": 3, "iat": NOW - 10, "exp": NOW + DAY}
GOOD = issue_access_token(Principal(42, "fan42", "fan", 3), secret=SECRET, ttl_seconds=DAY)


def with_claims(**changes: Any) -> str:
    claims = {**CLAIMS, **changes}
    return signed(HS256, {k: v for k, v in claims.items() if v is not ...})


def last_bits_changed(token: str) -> str:
    """The same signature bytes in non-canonical base64url (the last character's spare bits)."""
    head, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    return f"{head}.{body}.{signature[:-1]}{alphabet[last ^ 1]}"


CORPUS: dict[str, str] = {
    "issued by the service": GOOD,
    "admin": issue_access_token(Principal(7, "op", "admin"), secret=SECRET, ttl_seconds=DAY),
    "signed with another secret": issue_access_token(Principal(42, "x", "fan"), secret=OTHER, ttl_seconds=DAY),
    "expired": issue_access_token(Principal(42, "x", "fan"), secret=SECRET, ttl_seconds=60, now=NOW - 120),
    "expires this second": with_claims(exp=NOW),
    "issued in the future": with_claims(iat=NOW + DAY),
    "alg none": segment(b'{"alg":"none","typ":"JWT"}') + "." + GOOD.split(".")[1] + ".",
    "alg HS512 with the secret": jwt.encode(CLAIMS, SECRET, algorithm="HS512"),
    "header with a kid": signed({**HS256, "kid": "1"}, CLAIMS),
    "header without typ": signed({"alg": "HS256"}, CLAIMS),
    "header keys reordered": signed({"typ": "JWT", "alg": "HS256"}, CLAIMS),
    "signature in non-canonical base64": last_bits_changed(GOOD),
    "signature padded": GOOD + "=",
    "signature cut": GOOD[:-2],
    "signature empty": GOOD.rsplit(".", 1)[0] + ".",
    "four segments": GOOD + ".x",
    "two segments": GOOD.rsplit(".", 1)[0],
    "empty": "",
    "dots only": "..",
    "non-ASCII signature": GOOD[:-1] + "é",
    "non-ASCII payload": f"{GOOD.split('.')[0]}.é.{GOOD.split('.')[2]}",
    "payload not JSON": signed(HS256, b"not json"),
    "payload a JSON array": signed(HS256, b'["sub","42"]'),
    "payload with NaN exp": signed(HS256, b'{"sub":"42","exp":NaN}'),
    "payload with duplicate sub": signed(HS256, f'{{"sub":"1","sub":"42","exp":{NOW + DAY}}}'.encode()),
    "payload invalid UTF-8": signed(HS256, b'{"sub":"\xff","exp":9999999999}'),
    "an audience": with_claims(aud="elsewhere"),
    "a jti that is no string": with_claims(jti=5),
    "nbf in the future": with_claims(nbf=NOW + DAY),
    "without sub": with_claims(sub=...),
    "without exp": with_claims(exp=...),
    "sub null": with_claims(sub=None),
    "sub an integer": with_claims(sub=42),
    "sub with a leading zero": with_claims(sub="042"),
    "sub in Arabic-Indic digits": with_claims(sub="٤٢"),
    "sub beyond bigint": with_claims(sub=str(2**64)),
    "role root": with_claims(role="root"),
    "role door": with_claims(role="door"),
    "without role": with_claims(role=...),
    "ver negative": with_claims(ver=-1),
    "ver a string": with_claims(ver="3"),
    "ver true": with_claims(ver=True),
    "exp a string": with_claims(exp=str(NOW + DAY)),
    "exp a float": with_claims(exp=NOW + DAY + 0.5),
    "exp true": with_claims(exp=True),
    "iat a float": with_claims(iat=NOW - 10.5),
    "iat a string": with_claims(iat="soon"),
    "name a number": with_claims(name=5),
    "without name": with_claims(name=...),
}


@pytest.mark.parametrize("name", CORPUS)
def test_the_own_path_answers_as_pyjwt_does(name: str) -> None:
    token = CORPUS[name]
    security._verified.clear()  # the check itself, not the memo of an earlier one
    assert read_access_token(token, secret=SECRET) == reference(token, SECRET)


def test_the_corpus_has_tokens_accepted_and_refused_on_both_paths() -> None:
    outcomes = {name: reference(token, SECRET) for name, token in CORPUS.items()}
    assert outcomes["issued by the service"] == Principal(42, "fan42", "fan", 3)
    assert outcomes["header keys reordered"] is not None  # PyJWT's path too
    assert outcomes["signed with another secret"] is None
    assert outcomes["expired"] is None
    assert security._issued_here(GOOD, SECRET) is not None  # the service's own tokens take the own path
    assert security._issued_here(CORPUS["header keys reordered"], SECRET) is None

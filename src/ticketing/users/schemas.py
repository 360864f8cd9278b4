from __future__ import annotations

from typing import Annotated, Literal

import msgspec

NAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}$"

UserName = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, description="3-32 letters, digits, _ . -")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=128)]


class SignUp(msgspec.Struct, forbid_unknown_fields=True):
    name: UserName
    password: Password


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=128)]


class UserOut(msgspec.Struct):
    id: int
    name: str
    wallet_id: int


class AccessToken(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret

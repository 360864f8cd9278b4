from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ticketing.kernel.text import plain_text

# A full match: ``\Z``, not ``$`` (msgspec searches, and ``$`` also matches before a final
# newline, which let "alice\n" sign up beside "alice").
NAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}\Z"

UserName = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, description="3-32 letters, digits, _ . -")]
Password = Annotated[
    str, plain_text(min_length=8, max_length=128, description="8-128 characters, no control characters")
]
# What sign-in and the current password accept: no control characters (a NUL in the name reached
# PostgreSQL, which refuses it), otherwise anything, so that a wrong one answers 401.
_AnyName = Annotated[str, plain_text(max_length=64)]
_AnyPassword = Annotated[str, plain_text(max_length=128)]


# What the pages call the fan (may be Korean), apart from the sign-in name; the service checks
# the rest (users/names.py: one script, no look-alike mix, at most 20 characters) and answers 422
# INVALID_DISPLAY_NAME with the reason.
DisplayName = Annotated[
    str,
    plain_text(
        max_length=64,
        description="What the pages call the fan (Korean allowed): 1-20 letters, digits, inner spaces and "
        ". _ - ' ·; one script or Latin with Hangul/Han (TR39 highly restrictive)",
    ),
]


class SignUp(msgspec.Struct, forbid_unknown_fields=True):
    name: UserName
    password: Password
    display_name: DisplayName | None = None


class DisplayNameIn(msgspec.Struct, forbid_unknown_fields=True):
    """``null`` removes it (the pages then show the sign-in name)."""

    display_name: DisplayName | None


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    name: _AnyName
    password: _AnyPassword


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: _AnyPassword
    new_password: Password


class DoorStaffIn(msgspec.Struct, forbid_unknown_fields=True):
    name: UserName
    password: Password


class StaffOut(msgspec.Struct):
    id: int
    name: str
    role: Literal["door"]


class UserOut(msgspec.Struct):
    id: int
    name: str
    wallet_id: int
    display_name: str | None = None


class AccessToken(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret

"""JSON Schema rules a struct states for the OpenAPI document that msgspec cannot see, written
where the struct is (the domains' schemas) without importing the HTTP edge: ``edge.openapi``
reads them when it completes the document."""

from __future__ import annotations

from typing import Any, Final

# ``msgspec.Meta(extra=...)`` key of a struct field whose bound is a setting (``setting_bound``).
SETTING_BOUNDS: Final = "ticketing.openapi_setting_bounds"


def exactly_one_of(*fields: str) -> dict[str, Any]:
    """The JSON Schema of "send exactly one of these fields" (the others absent or null), a rule
    msgspec cannot see (a struct checks it in ``__post_init__``). A struct states it for the
    document with ``__openapi_extra__: ClassVar[dict[str, Any]] = exactly_one_of("a", "b")``."""
    return {
        "oneOf": [
            {
                "required": [chosen],
                "properties": {
                    name: {"not": {"type": "null"}} if name == chosen else {"type": "null"} for name in fields
                },
            }
            for chosen in fields
        ]
    }


def setting_bound(**bounds: str) -> dict[str, Any]:
    """``msgspec.Meta(extra=setting_bound(maximum="max_charge"))``: the field's JSON Schema
    ``maximum`` is the app's ``Settings.max_charge``, whatever the deployment set it to."""
    return {SETTING_BOUNDS: bounds}

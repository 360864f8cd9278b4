"""OpenAPI helpers: every endpoint lists the problem+json errors it can answer."""

from __future__ import annotations

from collections import defaultdict

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from ticketing.core.errors import AppError


class Problem(msgspec.Struct):
    """RFC 9457 problem details; clients branch on ``code``."""

    type: str
    title: str
    status: int
    code: str
    detail: str


def body_of(schema: object, description: str = "OK") -> ResponseSpec:
    """Document the success body of a handler that returns pre-encoded JSON bytes (a cached or
    stored idempotent response), whose shape Litestar cannot infer from the return type."""
    return ResponseSpec(data_container=schema, description=description, generate_examples=False)


def error_responses(*errors: type[AppError]) -> dict[int, ResponseSpec]:
    by_status: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        by_status[error.status].append(error.code)
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=" / ".join(sorted(set(codes))),
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status, codes in by_status.items()
    }

"""docs/api.md and the OpenAPI document name the same operations: every path and method the
service documents in OpenAPI is on the page, and the page lists no operation the service lacks.
A new endpoint therefore needs its line in docs/api.md before this passes."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Litestar

from ticketing.edge.openapi import openapi_document

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch")
# `GET /api/v1/...` in code spans; the operations endpoints sit at the root.
OPERATION = re.compile(r"`(GET|PUT|POST|DELETE|PATCH) (/api/v1/[^`\s]*|/healthz|/readyz|/metrics)`")
# A path parameter may go by a shorter name in prose (`{id}` for `{wallet_id}`): compared without it.
PARAMETER = re.compile(r"\{[^}]*\}")


def _operation(method: str, path: str) -> tuple[str, str]:
    return method.upper(), PARAMETER.sub("{}", path)


def _documented() -> set[tuple[str, str]]:
    return {_operation(method, path) for method, path in OPERATION.findall(API_PAGE.read_text(encoding="utf-8"))}


def _served(app: Litestar) -> set[tuple[str, str]]:
    paths = openapi_document(app)["paths"]
    return {_operation(method, path) for path, item in paths.items() for method in item if method in METHODS}


def test_every_operation_of_the_openapi_document_is_on_the_api_page(app: Litestar) -> None:
    missing = sorted(_served(app) - _documented())
    assert not missing, f"in the OpenAPI document but not in docs/api.md: {missing}"


def test_the_api_page_names_no_operation_the_service_lacks(app: Litestar) -> None:
    unknown = sorted(_documented() - _served(app))
    assert not unknown, f"in docs/api.md but not in the OpenAPI document: {unknown}"

"""The OpenAPI document (``GET /openapi.json``, ``/docs``): what each route really answers, written
from the same configuration that makes it answer, so the two cannot drift apart.

Litestar writes a document from each handler's signature and declared ``responses``; on its own
that document disagreed with the service (a security review's schemathesis run):

- it listed a 400 in Litestar's own shape where the service answers 422 problem+json, and left
  out what the before-request checks answer (401, 403, 413, 415, 422) and 503;
- it turned integer bounds into floats (2^63-1 became 9.223372036854776e+18, i.e. 2^63, an id
  the service refuses) and wrote patterns in Python syntax (``\\Z`` means nothing in ECMA-262);
- it did not say that unknown body fields are refused, nor how the bearer and queue tokens go.

``openapi_document(app)`` starts from Litestar's document and, once per app, fills that in:

- every operation lists each status it can answer, errors as ``application/problem+json``
  (``Problem``) with their ``code`` values: those its handler declares with
  ``error_responses(...)`` plus those its configuration implies: path, query or header
  parameters or a body (422), a body (413, 415), a bearer check (401), an operator check (403),
  a queue token (401/403 ``TOKEN_INVALID``, 403 ``TOKEN_NOT_ADMITTED``), and every API route
  503 (PostgreSQL or Redis down, or the request deadline passed: nothing was changed);
- body and response schemas are msgspec's own (exact integer bounds, ``additionalProperties:
  false`` where a struct forbids unknown fields, bounds that are settings filled in from the
  app's settings: ``setting_bound``);
- ids and other canonical integers in paths and query strings carry their exact bounds
  (``edge/params.py``); patterns are ECMA-262;
- security schemes: ``bearerAuth`` (``Authorization: Bearer``) and ``queueToken``
  (``X-Queue-Token``, described there rather than as a header parameter);
- OpenAPI links declared by handlers (``linked(Link(...))``), e.g. from a hold's 201 to its
  payment, which schemathesis follows in its stateful phase (``make test-api``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, get_args

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from ticketing.edge.auth import account_checks, admin_checks, door_checks, user_checks
from ticketing.edge.params import CANONICAL
from ticketing.kernel.challenge import Challenge
from ticketing.kernel.errors import (
    AppError,
    Forbidden,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationError,
)
from ticketing.kernel.ids import MAX_ID, MAX_QUEUE_TOKEN_LENGTH
from ticketing.kernel.jsonschema import SETTING_BOUNDS

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.handlers import HTTPRouteHandler

    from ticketing.config import Settings

PROBLEM_JSON = "application/problem+json"
QUEUE_TOKEN_HEADER = "X-Queue-Token"  # noqa: S105 - a header name
BEARER_SCHEME = "bearerAuth"
QUEUE_TOKEN_SCHEME = "queueToken"  # noqa: S105 - the security scheme's name

# Handler ``opt`` keys this module reads.
LINKS: Final = "ticketing.openapi_links"
# A struct's class attribute holding JSON Schema keywords for its component (``exactly_one_of``).
OPENAPI_EXTRA: Final = "__openapi_extra__"


class FieldError(msgspec.Struct):
    field: str  # the body field, parameter or header ("" for the body as a whole)
    message: str


class Problem(msgspec.Struct):
    """RFC 9457 problem details; clients branch on ``code``. Some problems carry more members
    (``errors`` of a 422, ``unavailable_seat_ids`` and ``reason`` of a refused hold, ...)."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] | msgspec.UnsetType = msgspec.UNSET
    # A 428 CHALLENGE_REQUIRED: the proof-of-work challenge to solve (kernel/challenge.py).
    challenge: Challenge | msgspec.UnsetType = msgspec.UNSET


def body_of(schema: Any, description: str = "OK") -> ResponseSpec:
    """Document the success body of a handler that returns pre-encoded JSON bytes (a cached or
    stored idempotent response), whose shape Litestar cannot infer from the return type.
    ``schema`` is any type Litestar documents (a Struct, ``dict[str, str]``, ...): Any, because
    ResponseSpec's own union names attrs' classes, which mypy checks once attrs is installed."""
    return ResponseSpec(data_container=schema, description=description, generate_examples=False)


# A conditional GET's answer (``If-None-Match`` naming the current ETag): no body.
NOT_MODIFIED = ResponseSpec(
    data_container=None, description="Not modified: the ETag named is current", generate_examples=False
)


def error_responses(*errors: type[AppError]) -> dict[int, ResponseSpec]:
    """The problems a handler can answer beyond those its configuration implies (see above)."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error.code)
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=" / ".join(sorted(set(codes))),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status, codes in by_status.items()
    }


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link from one response of a handler to the operation ``method path``: values of
    that response (runtime expressions such as ``$response.body#/id``) fill the target's path
    ``parameters`` or its ``request_body``."""

    name: str
    method: str
    path: str
    status: int = 201
    parameters: Mapping[str, str] = field(default_factory=dict)
    request_body: object = None
    description: str | None = None


def linked(*links: Link) -> dict[str, Any]:
    """The handler ``opt`` that declares ``links``: ``@post(..., opt=linked(Link(...)))``."""
    return {LINKS: links}


class CompletedJsonRenderPlugin(JsonRenderPlugin):
    """Serves ``/docs/openapi.json`` (what Swagger UI reads) from the completed document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return openapi_json(request.app)


def openapi_json(app: Litestar) -> bytes:
    """The completed document, encoded once per app."""
    encoded: bytes | None = app.state.get(_ENCODED)
    if encoded is None:
        encoded = app.state[_ENCODED] = msgspec.json.encode(openapi_document(app))
    return encoded


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The completed document, built once per app (the first time it is asked for)."""
    document: dict[str, Any] | None = app.state.get(_DOCUMENT)
    if document is None:
        document = app.state[_DOCUMENT] = _complete(app)
    return document


_DOCUMENT = "ticketing.openapi_document"
_ENCODED = "ticketing.openapi_json"

# What an operation answers because of how it is configured, not because of what its use case
# raises: (status, codes). A problem's codes end up in the response's description.
_VALIDATION = (ValidationError.status, ValidationError.code)
_BODY_PROBLEMS = (
    (UnsupportedMediaType.status, UnsupportedMediaType.code),
    (PayloadTooLarge.status, PayloadTooLarge.code),
)
_BEARER = (Unauthenticated.status, Unauthenticated.code)
_OPERATOR = (Forbidden.status, Forbidden.code)
_QUEUE_TOKEN = ((401, "TOKEN_INVALID"), (403, "TOKEN_INVALID"), (403, "TOKEN_NOT_ADMITTED"))
_UNAVAILABLE = (ServiceUnavailable.status, ServiceUnavailable.code)

_SECURITY_SCHEMES = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /api/v1/auth/token (or a password change). Operator "
        "endpoints (/api/v1/admin/...) need the token of an operator account: 403 FORBIDDEN otherwise.",
    },
    QUEUE_TOKEN_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": QUEUE_TOKEN_HEADER,
        "description": "The waiting-room pass of one concert and one fan, from POST "
        f"/api/v1/concerts/{{concert_id}}/queue/tokens (at most {MAX_QUEUE_TOKEN_LENGTH} characters). Missing, "
        "unknown, expired or finished: 401 TOKEN_INVALID; another fan's or another concert's: 403 "
        "TOKEN_INVALID; still waiting: 403 TOKEN_NOT_ADMITTED.",
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before asking again",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _complete(app: Litestar) -> dict[str, Any]:
    bearer_hooks = {user_checks, account_checks, admin_checks, door_checks}
    document = app.openapi_schema.to_schema()
    settings: Settings = app.state.settings
    structs: list[Any] = [Problem]
    operation_ids = {
        (path, method): operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for path, method, handler in _operations(app):
        operation = document["paths"][path][method.lower()]
        hook = handler.resolve_before_request()
        bearer = hook in bearer_hooks
        validated = bool(operation.get("parameters"))  # the queue token's length included
        queue_token = _complete_parameters(operation, handler)
        body = handler.parsed_data_field is not None
        implied: list[tuple[int, str]] = []
        if validated or body:
            implied.append(_VALIDATION)
        if body:
            implied.extend(_BODY_PROBLEMS)
        if bearer:
            implied.append(_BEARER)
        if hook is admin_checks or hook is door_checks:
            implied.append(_OPERATOR)
        if queue_token:
            implied.extend(_QUEUE_TOKEN)
        if path.startswith("/api/"):
            implied.append(_UNAVAILABLE)
        _complete_responses(operation, implied)
        requirement: dict[str, list[str]] = {
            name: [] for name, needed in ((BEARER_SCHEME, bearer), (QUEUE_TOKEN_SCHEME, queue_token)) if needed
        }
        if requirement:
            operation["security"] = [requirement]
        for link in handler.opt.get(LINKS, ()):
            _add_link(operation, link, operation_ids)
        structs.extend(_types_of(handler))
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(_struct_schemas(structs, settings))
    components["securitySchemes"] = _SECURITY_SCHEMES
    _to_ecma_and_integers(document)
    return document


def _operations(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.resolve_include_in_schema():
                for method in sorted(handler.http_methods):
                    yield route.path_format or "/", method, handler


def _complete_parameters(operation: dict[str, Any], handler: HTTPRouteHandler) -> bool:
    """Canonical integers get their exact bounds; the queue token header leaves the parameters
    (it is a security scheme). Returns whether the operation reads the queue token."""
    fields = handler.parsed_fn_signature.parameters
    canonical = {
        (getattr(f.kwarg_definition, "query", None) or name): f for name, f in fields.items() if CANONICAL in f.metadata
    }
    queue_token = False
    kept = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == QUEUE_TOKEN_HEADER.lower():
            queue_token = True
            continue
        schema = parameter["schema"] = _without_null(parameter["schema"])
        integer = canonical.get(parameter["name"])
        if integer is not None:
            _exact_integer_bounds(schema, integer.kwarg_definition)
            schema["description"] = parameter["description"] = (
                "A positive integer in canonical decimal form: ASCII digits, no sign, leading zero, "
                'decimal point or exponent ("1.0" and "01" are 422)'
            )
        kept.append(parameter)
    if kept:
        operation["parameters"] = kept
    else:
        operation.pop("parameters", None)
    return queue_token


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is ``required: false``; Litestar also wrote its ``T | None`` as
    ``oneOf: [T, null]``, a value no path, query string or header can carry."""
    options = schema.get("oneOf")
    if not options or {"type": "null"} not in options:
        return schema
    rest = [option for option in options if option != {"type": "null"}]
    merged = {key: value for key, value in schema.items() if key != "oneOf"}
    if len(rest) == 1:
        return {**rest[0], **merged}
    return {**merged, "oneOf": rest}


def _exact_integer_bounds(schema: dict[str, Any], kwarg: Any) -> None:
    schema["type"] = "integer"
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        schema.pop(key, None)
    if kwarg.ge is not None:
        schema["minimum"] = int(kwarg.ge)
    elif kwarg.gt is not None:
        schema["minimum"] = int(kwarg.gt) + 1
    if kwarg.le is not None:
        schema["maximum"] = int(kwarg.le)
    elif kwarg.lt is not None:
        schema["maximum"] = int(kwarg.lt) - 1
    schema.setdefault("maximum", MAX_ID)


def _complete_responses(operation: dict[str, Any], implied: list[tuple[int, str]]) -> None:
    responses: dict[str, Any] = operation["responses"]
    # Litestar's own 400 (a ValidationException): this service answers every one as a 422 problem.
    responses.pop("400", None)
    codes: dict[str, set[str]] = {}
    for implied_status, code in implied:
        codes.setdefault(str(implied_status), set()).add(code)
    for status, declared in responses.items():
        if status.startswith(("4", "5")):  # declared with error_responses: its codes are its description
            codes.setdefault(status, set()).update(
                part.strip() for part in declared.get("description", "").split(" / ") if part.strip()
            )
    for status, names in codes.items():
        problem = responses.setdefault(status, {})
        problem["description"] = " / ".join(sorted(names))
        problem["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if status == "429":
            problem["headers"] = _RETRY_AFTER
    operation["responses"] = dict(sorted(responses.items()))


def _add_link(operation: dict[str, Any], link: Link, operation_ids: dict[tuple[str, str], str]) -> None:
    target = operation_ids.get((link.path, link.method.lower()))
    if target is None:
        raise LookupError(f"OpenAPI link {link.name!r}: no operation {link.method} {link.path}")
    described: dict[str, Any] = {"operationId": target}
    if link.parameters:
        described["parameters"] = dict(link.parameters)
    if link.request_body is not None:
        described["requestBody"] = link.request_body
    if link.description:
        described["description"] = link.description
    response = operation["responses"].get(str(link.status))
    if response is None:
        raise LookupError(f"OpenAPI link {link.name!r}: the operation has no {link.status} response")
    response.setdefault("links", {})[link.name] = described


def _types_of(handler: HTTPRouteHandler) -> Iterator[Any]:
    """The types of the handler's body and answers, for msgspec's schemas."""
    if handler.parsed_data_field is not None:
        yield handler.parsed_data_field.annotation
    yield handler.parsed_fn_signature.return_type.annotation
    for spec in (handler.responses or {}).values():
        yield spec.data_container


def _struct_schemas(types: list[Any], settings: Settings) -> dict[str, Any]:
    """msgspec's own JSON Schemas of every struct the document names: exact integer bounds,
    ``additionalProperties: false`` where unknown fields are refused (``forbid_unknown_fields``),
    ``extra_json_schema`` honoured, and bounds that are settings filled in. Structs are passed one
    by one (Litestar writes the unions and lists around them, e.g. ``ReservationOut |
    ReservationList``, which msgspec has no schema for when the union is untagged)."""
    structs = list(dict.fromkeys(struct for annotation in types for struct in _struct_classes(annotation)))
    _, components = msgspec.json.schema_components(
        structs, schema_hook=_any_value, ref_template="#/components/schemas/{name}"
    )
    for struct in _structs_in(structs):
        schema = components.get(struct.__name__)
        if schema is None:
            continue
        schema.update(getattr(struct, OPENAPI_EXTRA, {}))
        for info in msgspec.inspect.type_info(struct).fields:  # type: ignore[attr-defined]
            prop = schema["properties"][info.encode_name]
            for keyword, setting in _setting_bounds(info.type).items():
                prop[keyword] = getattr(settings, setting)
            _mark_date_times(info.type, prop)
    return components


def _mark_date_times(info: Any, prop: dict[str, Any]) -> None:
    """msgspec marks ``format: date-time`` only where a datetime must be aware (``tz=True``);
    every time this service sends carries its offset (docs/api.md), so every datetime is one."""
    if isinstance(info, msgspec.inspect.DateTimeType):
        prop.setdefault("format", "date-time")
    elif isinstance(info, msgspec.inspect.UnionType):
        for option, branch in zip(info.types, prop.get("anyOf", []), strict=False):
            if isinstance(option, msgspec.inspect.DateTimeType):
                branch.setdefault("format", "date-time")


def _any_value(annotation: Any) -> dict[str, Any]:
    """A field typed ``object`` (checked by its use case) is any JSON value, unless its
    ``Meta(extra_json_schema=...)`` says more."""
    if annotation is object:
        return {"description": "Any JSON value"}
    raise NotImplementedError(f"no JSON Schema for {annotation!r}")


def _struct_classes(annotation: Any) -> Iterator[type[msgspec.Struct]]:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        yield annotation
        return
    for arg in get_args(annotation):  # unions, lists, Annotated (whose metadata is no type)
        yield from _struct_classes(arg)


def _structs_in(types: list[Any]) -> Iterator[type[msgspec.Struct]]:
    for info in msgspec.inspect.multi_type_info(types):
        yield from _struct_infos(info, set())


def _struct_infos(info: Any, seen: set[type]) -> Iterator[type[msgspec.Struct]]:
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return
        seen.add(info.cls)
        yield info.cls
        for struct_field in info.fields:
            yield from _struct_infos(struct_field.type, seen)
        return
    for attribute in ("item_type", "key_type", "value_type", "types", "item_types"):
        nested = getattr(info, attribute, None)
        for item in nested if isinstance(nested, tuple) else (nested,):
            if isinstance(item, msgspec.inspect.Type):
                yield from _struct_infos(item, seen)


def _setting_bounds(info: Any) -> dict[str, str]:
    extra = getattr(info, "extra", None) or {}
    bounds: dict[str, str] = extra.get(SETTING_BOUNDS, {})
    return bounds


# Python's end-of-text anchors, which ECMA-262 (the dialect of JSON Schema patterns) spells "$".
_PYTHON_END = re.compile(r"\\Z$")


def _to_ecma_and_integers(node: Any) -> None:
    """Walks the whole document: patterns in ECMA-262, and the bounds of integer schemas as
    integers (Litestar wrote them as floats; 2^63-1 is not a float)."""
    if isinstance(node, list):
        for item in node:
            _to_ecma_and_integers(item)
        return
    if not isinstance(node, dict):
        return
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        node["pattern"] = _PYTHON_END.sub("$", pattern)
    if node.get("type") == "integer":
        if node.get("exclusiveMinimum") is not None and "minimum" not in node:
            node["minimum"] = _integer_bound(node.pop("exclusiveMinimum")) + 1
        for key in ("minimum", "maximum", "default"):
            if isinstance(node.get(key), float):
                node[key] = _integer_bound(node[key])
    for value in node.values():
        _to_ecma_and_integers(value)


def _integer_bound(value: float | int) -> int:
    # 2^63-1 has no float; as a float it reads 2^63, one more than any id.
    return MAX_ID if value >= float(MAX_ID) else int(value)

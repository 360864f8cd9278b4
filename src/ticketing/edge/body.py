"""``strict_body``, the application's before-request hook: what the client wrote is read strictly
before Litestar's lenient conversion (canonical integers in the path and query string; a JSON
body decoded by msgspec's strict rules, of a JSON content type, without a repeated key)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler

from ticketing.edge.params import CANONICAL
from ticketing.kernel.errors import UnsupportedMediaType, ValidationError
from ticketing.kernel.ids import canonical_positive_int

# --- Before-request hooks: what every request is checked for before Litestar parses it -------
#
# Litestar calls a layer's ``before_request`` hook after routing and before it parses and
# validates the path, query, header and body parameters (422), so a check made here comes first.
# The hook of the closest layer replaces the others (they do not chain): the app has
# ``strict_body``; a controller or handler that needs a signed-in caller sets
# ``before_request = user_checks`` (or ``admin_checks``), which authenticate and then run
# ``strict_body`` too. That is the documented order: bearer 401, then validation 422.
#
# Not Litestar guards: before every guard call Litestar makes a shallow copy of the route handler
# (``copy(self)``, some 60 attributes), a cost on every request of every guarded route.


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Read what the client wrote strictly, before Litestar's lenient conversion.

    - Integers in the path or query string (ids, ``limit``) must be canonical decimal: Litestar
      reads "1.0" and "1e0" as 1 (``edge/params.py``).
    - A JSON body is decoded with msgspec's strict rules ("100" and true are not integers).
      Litestar converts request data leniently (it must coerce query strings); money and ids
      must not be coerced. Only JSON is taken (415 for another or a missing content type:
      Litestar would parse ``text/plain`` as JSON), and no object may repeat a key (422).

    A handler with neither costs one dictionary look-up.
    """
    handler = request.scope["route_handler"]
    checks = handler.opt.get(_CHECKS, _UNSEEN)
    if checks is _UNSEEN:  # the first request of this handler: remember what it needs checked, or None
        checks = handler.opt[_CHECKS] = _request_checks(handler, path_params=request.scope["path_params"])
    if checks is None:
        return
    decoder, integers = checks
    if integers:
        _check_canonical_integers(request, integers)
    if decoder is None:
        return
    body = await request.body()
    if not _is_json(_content_type(request.scope["headers"]), body):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json")
    try:
        data = decoder.decode(body)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        field_name = where.rstrip("`").removeprefix("$.").removeprefix("$")
        raise ValidationError(
            f"{field_name}: {message}" if field_name else message,
            errors=[{"field": field_name, "message": message}],
        ) from error
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # msgspec raises the latter for invalid UTF-8
        raise ValidationError("The body is not valid JSON", errors=[{"field": "", "message": str(error)}]) from error
    # msgspec (like most parsers) lets the last of two equal keys win: {"amount":1,"amount":5}
    # charged 5 while a proxy or log that reads the first saw 1. A second parse that sees every
    # pair, only of bodies msgspec accepted (small: the limit is TICKETING_MAX_BODY_BYTES).
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKey as error:
        raise ValidationError(
            f"{error.key}: appears more than once in an object", errors=[{"field": error.key, "message": str(error)}]
        ) from None
    request.scope[STRICT_DATA] = data  # type: ignore[literal-required]


# Where ``strict_body`` leaves the body it decoded: the fast lane (edge/lane.py) passes it to the
# handler as ``data`` (Litestar's own parse of it, on the long way, is lenient but agrees on every
# body the strict one accepts).
STRICT_DATA = "ticketing.strict_data"


async def strict_data(request: Request[Any, Any, Any]) -> Any:
    """The handler's body as ``strict_body`` decoded it (checked now if it was not yet)."""
    if STRICT_DATA not in request.scope:
        await strict_body(request)
    return request.scope.pop(STRICT_DATA)  # type: ignore[misc]


def _content_type(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"content-type":
            return value
    return None


def _is_json(content_type: bytes | None, body: bytes) -> bool:
    """``application/json`` or ``application/*+json`` (parameters such as charset aside); an empty
    body without a type is left to the decoder (a 422 saying the body is missing)."""
    if content_type is None:
        return not body
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__("appears more than once in an object")
        self.key = key


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


_CHECKS = "ticketing.strict_request_checks"  # kept in the handler's own ``opt`` mapping
_UNSEEN: Any = object()

# Where each canonical integer of a handler is read: ("path", name) or ("query", key).
_IntegerSources = tuple[tuple[str, str], ...]


def _request_checks(
    handler: BaseRouteHandler, path_params: dict[str, Any]
) -> tuple[msgspec.json.Decoder[Any] | None, _IntegerSources] | None:
    if not isinstance(handler, HTTPRouteHandler):
        return None
    decoder = _body_decoder(handler)
    integers = _canonical_integer_sources(handler, path_params)
    return (decoder, integers) if decoder is not None or integers else None


def _body_decoder(handler: HTTPRouteHandler) -> msgspec.json.Decoder[Any] | None:
    field = handler.parsed_data_field
    target = field.annotation if field is not None else None
    if not (isinstance(target, type) and issubclass(target, msgspec.Struct)):
        return None
    return msgspec.json.Decoder(target)


def _canonical_integer_sources(handler: HTTPRouteHandler, path_params: dict[str, Any]) -> _IntegerSources:
    """The marked parameters of ``handler``: a path parameter (every request of a handler has
    the same path parameters) or else a query parameter (its ``query=`` key or its own name)."""
    sources: list[tuple[str, str]] = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        if CANONICAL not in field.metadata:
            continue
        if name in path_params:
            sources.append(("path", name))
        else:
            sources.append(("query", getattr(field.kwarg_definition, "query", None) or name))
    return tuple(sources)


def _check_canonical_integers(request: Request[Any, Any, Any], sources: _IntegerSources) -> None:
    for where, name in sources:
        texts = [request.scope["path_params"][name]] if where == "path" else request.query_params.getall(name, [])
        for text in texts:
            if not isinstance(text, str) or canonical_positive_int(text) is None:
                message = "must be a positive integer in canonical decimal form (digits only, no sign or leading zero)"
                raise ValidationError(f"{name}: {message}", errors=[{"field": name, "message": message}])

"""The fast lane: the few requests every fan of a sale sends over and over (joining the queue,
the seat map, a zone's seats) answered by their own Litestar handlers, without Litestar's router,
parameter model and response conversion.

A handler opts in with ``opt=FAST_LANE``. At startup the lane takes each such handler from the
application's routes and checks it needs nothing the lane skips (no guards, dependencies,
middleware, after-request hooks or cache; parameters only ``request``, canonical-integer path ids,
optional string headers and a msgspec Struct body; an answer that is already an ASGI response).
Per request, when the method and path match such a route exactly and the request is plain (a
body only where one is taken, a valid ``Host``, every path id canonical, each header once and
within its length), the lane sets what the router would have set in the scope, then runs the
handler's own before-request hook (authentication, account checks, ``strict_body``) and the
handler, inside Litestar's own exception middleware, so that any error is rendered by the
application's exception handlers exactly as on the long way. Any other request goes the long
way, through Litestar, unchanged: the lane decides before anything has run.

Measured (docs/performance.md, "The fast lane"): the requests it takes cost a quarter to a
third less server CPU (a seat-map answer 180 -> 132 µs, a queue poll 147 -> 94 µs); what is left
is the handler, its hook, our request context (``RequestContextMiddleware``, around both ways)
and the server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from litestar import Litestar, Request
from litestar._asgi.utils import is_valid_host, wrap_in_exception_handler
from litestar.enums import ScopeType
from litestar.exceptions import ImproperlyConfiguredException
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.response.base import ASGIResponse
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from ticketing.edge.body import strict_data
from ticketing.edge.params import CANONICAL
from ticketing.kernel.ids import canonical_positive_int

FAST_LANE_KEY = "ticketing.fast_lane"
FAST_LANE: Final = {FAST_LANE_KEY: True}  # a handler's ``opt``: answer me in the lane


@dataclass(frozen=True, slots=True)
class _Header:
    parameter: str  # the handler's parameter name
    name: bytes  # the header, lower-cased as ASGI servers give it
    max_length: int | None


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    segments: tuple[str | None, ...]  # the path's segments; None where an id goes
    ids: tuple[str, ...]  # the path parameters, in order
    headers: tuple[_Header, ...]
    header_names: frozenset[bytes]
    takes_body: bool
    path_template: str
    handler: HTTPRouteHandler
    exception_handlers: Any
    answer: ASGIApp  # the hook and the handler, inside Litestar's exception middleware


class FastLane:
    """ASGI layer in front of Litestar's own handler (``create_app`` puts it inside
    ``RequestContextMiddleware``, so request ids, deadlines, security headers and metrics apply to
    both ways alike)."""

    def __init__(self, app: Litestar, long_way: ASGIApp) -> None:
        self.long_way = long_way
        self.routes: dict[tuple[str, int], list[_Route]] = {}
        for route in app.routes:
            if not isinstance(route, HTTPRoute):
                continue
            for method, (handler, _) in route.route_handler_map.items():
                if handler.opt.get(FAST_LANE_KEY):
                    lane_route = _lane_route(route, method, handler)
                    self.routes.setdefault((method, len(lane_route.segments)), []).append(lane_route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not scope.get("root_path"):
            segments = scope["path"].split("/")
            candidates = self.routes.get((scope["method"], len(segments)))
            if candidates is not None:
                for route in candidates:
                    if _answer_here(route, segments, scope):
                        await route.answer(scope, receive, send)
                        return
        await self.long_way(scope, receive, send)


def _answer_here(route: _Route, segments: list[str], scope: Scope) -> bool:
    """Whether ``route`` takes this request the short way; if so, the scope is set as Litestar's
    router sets it (path parameters, handler, template, exception handlers) and the handler's
    keyword arguments are in the scope's ``FAST_LANE_KEY``."""
    path_params = _path_params(route, segments)
    if path_params is None:
        return False
    kwargs: dict[str, Any] | None = _headers(route, scope["headers"], route.takes_body)
    if kwargs is None:
        return False
    for name, text in path_params.items():
        kwargs[name] = int(text)
    scope["path_params"] = path_params
    scope["route_handler"] = route.handler
    scope["path_template"] = route.path_template
    ScopeState.from_scope(scope).exception_handlers = route.exception_handlers
    scope[FAST_LANE_KEY] = kwargs  # type: ignore[literal-required]
    return True


def _path_params(route: _Route, segments: list[str]) -> dict[str, str] | None:
    """The path's ids by name, if the path is the route's with every id canonical (else
    Litestar answers: 404, or the 422 of a malformed id)."""
    path_params: dict[str, str] = {}
    ids = iter(route.ids)
    for expected, segment in zip(route.segments, segments, strict=True):
        if expected is None:
            if canonical_positive_int(segment) is None:
                return None
            path_params[next(ids)] = segment
        elif expected != segment:
            return None
    return path_params


def _headers(route: _Route, headers: Iterable[tuple[bytes, bytes]], body: bool) -> dict[str, Any] | None:
    """The route's header parameters by name, if the request is one the lane takes: a body only
    if the handler takes one, a valid ``Host`` (else Litestar's 400), each header parameter at
    most once and within its length (else Litestar's 422, or its choice among repeated ones)."""
    values: dict[bytes, bytes] = {}
    for name, value in headers:
        if name == b"host":
            if not is_valid_host(value):
                return None
        elif not body and ((name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding"):
            return None
        elif name in route.header_names:
            if name in values:
                return None
            values[name] = value
    kwargs: dict[str, Any] = {}
    for header in route.headers:
        raw = values.get(header.name)
        text = raw.decode("latin-1") if raw is not None else None
        if text is not None and header.max_length is not None and len(text) > header.max_length:
            return None
        kwargs[header.parameter] = text
    return kwargs


def _lane_route(route: HTTPRoute, method: str, handler: HTTPRouteHandler) -> _Route:
    _check_layers(handler)
    ids = tuple(part[1:-1].partition(":")[0] for part in route.path.split("/") if part.startswith("{"))
    headers, takes_request, takes_body = _parameters(handler, ids)
    return _Route(
        method=method,
        segments=tuple(None if part.startswith("{") else part for part in route.path.split("/")),
        ids=ids,
        headers=headers,
        header_names=frozenset(header.name for header in headers),
        takes_body=takes_body,
        path_template=route.path_format,
        handler=handler,
        exception_handlers=handler.resolve_exception_handlers(),
        answer=wrap_in_exception_handler(_handler_call(handler, takes_request, takes_body)),
    )


def _refusal(handler: HTTPRouteHandler, why: str) -> ImproperlyConfiguredException:
    return ImproperlyConfiguredException(f"{handler.handler_name} cannot take the fast lane: {why}")


def _check_layers(handler: HTTPRouteHandler) -> None:
    """Nothing of what Litestar would run around ``handler`` is skipped by the lane."""
    if handler.has_sync_callable:
        raise _refusal(handler, "it is not async")
    for what, present in (
        ("guards", handler.resolve_guards()),
        ("dependencies", handler.resolve_dependencies()),
        ("middleware", handler.resolve_middleware()),
        ("an after-request hook", any(layer.after_request for layer in handler.ownership_layers)),
        ("an after-response hook", handler.resolve_after_response()),
        ("a response cache", handler.cache),
        ("a return DTO", handler.resolve_return_dto()),
    ):
        if present:
            raise _refusal(handler, f"it has {what}")
    returns = handler.parsed_fn_signature.return_type.annotation
    if not (isinstance(returns, type) and issubclass(returns, ASGIResponse)):
        raise _refusal(handler, "its answer is not an ASGI response")


def _parameters(handler: HTTPRouteHandler, ids: tuple[str, ...]) -> tuple[tuple[_Header, ...], bool, bool]:
    """The handler's headers, and whether it takes the request and a body; refused at startup if
    a parameter is one the lane does not read as Litestar would."""
    headers: list[_Header] = []
    takes_request = takes_body = False
    parameters = handler.parsed_fn_signature.parameters
    for name, field in parameters.items():
        definition = field.kwarg_definition
        if name == "request":
            takes_request = True
        elif name == "data":
            if not (isinstance(field.annotation, type) and issubclass(field.annotation, msgspec.Struct)):
                raise _refusal(handler, "its body is not a msgspec Struct (strict_body decodes only those)")
            takes_body = True
        elif name in ids:
            if CANONICAL not in field.metadata:
                raise _refusal(handler, f"path parameter {name} is not a canonical integer id")
        elif isinstance(definition, ParameterKwarg) and definition.header and field.is_optional:
            unchecked = ("pattern", "min_length", "gt", "ge", "lt", "le", "const", "lower_case", "upper_case")
            if any(getattr(definition, constraint, None) not in (None, False) for constraint in unchecked):
                raise _refusal(handler, f"header {definition.header} has constraints the lane does not check")
            headers.append(_Header(name, definition.header.lower().encode("latin-1"), definition.max_length))
        else:
            raise _refusal(handler, f"parameter {name} is neither the request, its body, a path id nor a header")
    if set(ids) - set(parameters):
        raise _refusal(handler, "it does not take every path parameter")
    return tuple(headers), takes_request, takes_body


def _handler_call(handler: HTTPRouteHandler, takes_request: bool, takes_body: bool) -> ASGIApp:
    """What Litestar does for ``handler`` once its parameters are parsed: its before-request hook
    (an answer from the hook is not supported: none of ours gives one), then the handler, with
    the body ``strict_body`` decoded as ``data``; its answer is an ASGI response sent as it is."""
    hook: Callable[[Request[Any, Any, Any]], Any] | None = handler.resolve_before_request()
    request_class = handler.resolve_request_class()
    fn = handler.fn

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        kwargs = scope.pop(FAST_LANE_KEY)  # type: ignore[misc]
        request = request_class(scope, receive, send)
        if hook is not None:
            await hook(request)
        if takes_request:
            kwargs["request"] = request
        if takes_body:
            kwargs["data"] = await strict_data(request)
        response: ASGIResponse = await fn(**kwargs)
        await response(scope, receive, send)

    return call

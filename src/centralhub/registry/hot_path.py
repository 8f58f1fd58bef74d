"""The discovery hot paths as plain Starlette routes, answered ahead of the FastAPI routes.

``GET /api/v1/services/{name}`` (and ``/discovery/services/{name}``), ``GET …/{name}/endpoint``
and ``POST …/instances/{id}/heartbeat`` are what every service calls all the time, and
``POST /api/v1/services/register`` (and ``/discovery/register``) what a whole fleet calls at once. Their
answers come from the same ``*_response`` functions as the documented FastAPI routes in
:mod:`centralhub.registry.api` (one parser, one serializer) and their errors from the app's own
exception handlers; the parity tests hold both ways to the same statuses and bodies.

What they skip is per-request machinery with nothing to do for them: :class:`HotRoutes` sits in
the app's middleware stack, inside its 500 handler, and answers a request that fully matches a
hot route itself; anything else, a wrong method on a hot path included, goes on down the stack
to FastAPI, so a 405 is the framework's own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from centralhub.metrics.collectors import HTTP_STATS
from centralhub.registry.api import (
    endpoint_response,
    heartbeat_response,
    parse_registration,
    register_response,
    service_response,
)
from centralhub.registry.service import InstanceRegistry
from centralhub.server.deps import tenant_of

Answer = Callable[[InstanceRegistry, Scope, Receive], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def _tenant(scope: Scope) -> str:
    # ASGI header names are lower case; the first occurrence counts, as in Starlette's Headers
    for key, value in scope["headers"]:
        if key == b"x-tenant-id":
            return tenant_of(value.decode("latin-1"))
    return tenant_of(None)


def _query(scope: Scope, name: str, default: str | None = None) -> str | None:
    raw = scope["query_string"]
    return QueryParams(raw).get(name, default) if raw else default


async def _body(receive: Receive) -> bytes:
    """The request body as one bytes object (``Request.body`` without the Request and its
    stream generator: a heartbeat waits for its batch, and whatever it holds meanwhile is work
    for the garbage collector)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _service(registry: InstanceRegistry, scope: Scope, receive: Receive) -> Response:
    tenant = _tenant(scope)
    return service_response(registry, tenant, scope["path_params"]["name"], _query(scope, "status"))


async def _endpoint(registry: InstanceRegistry, scope: Scope, receive: Receive) -> Response:
    tenant = _tenant(scope)
    strategy = _query(scope, "strategy", "round_robin") or ""
    return endpoint_response(registry, tenant, scope["path_params"]["name"], strategy)


async def _heartbeat(registry: InstanceRegistry, scope: Scope, receive: Receive) -> Response:
    tenant = _tenant(scope)
    params = scope["path_params"]
    raw = await _body(receive)
    return await heartbeat_response(registry, tenant, params["name"], params["instance_id"], raw)


async def _register(registry: InstanceRegistry, scope: Scope, receive: Receive) -> Response:
    tenant = _tenant(scope)
    return await register_response(registry, tenant, parse_registration(await _body(receive)))


class HotEndpoint:
    """A hot route's endpoint: ``respond`` builds the answer; called as an ASGI app it also
    serves as an ordinary Starlette endpoint."""

    def __init__(self, registry: InstanceRegistry, answer: Answer) -> None:
        self.registry = registry
        self.answer = answer

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        return await self.answer(self.registry, scope, receive)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (await self.respond(scope, receive))(scope, receive, send)


def _route(registry: InstanceRegistry, path: str, answer: Answer, method: str) -> Route:
    route = Route(path, HotEndpoint(registry, answer), methods=[method])
    # exactly the documented method: Starlette would add HEAD to GET, which the FastAPI
    # routes (and OpenAPI) do not offer
    route.methods = {method}
    return route


def hot_routes(registry: InstanceRegistry) -> list[Route]:
    """The hot routes, answering from ``registry``."""
    return [
        _route(registry, "/api/v1/services/{name}", _service, "GET"),
        _route(registry, "/discovery/services/{name}", _service, "GET"),
        _route(registry, "/api/v1/services/{name}/endpoint", _endpoint, "GET"),
        _route(registry, "/api/v1/services/{name}/instances/{instance_id}/heartbeat", _heartbeat, "POST"),
        _route(registry, "/api/v1/services/register", _register, "POST"),
        _route(registry, "/discovery/register", _register, "POST"),
    ]


class HotRoutes:
    """Pure ASGI middleware answering requests that fully match one of ``routes``.

    An error becomes the response of the app's handler for its class (``exception_handlers``
    is the app's mapping, read when the middleware stack is built); an error no handler takes
    goes up to the app's 500 handler. Each answer is counted in the request metrics under the
    route's template, as the metrics middleware counts the others.

    Starlette's ``Router`` is not used here because it answers a wrong method on a matching
    path with its own 405, where such a request must reach the FastAPI route for that path.
    """

    def __init__(self, app: ASGIApp, *, routes: list[Route], exception_handlers: dict[Any, Any]) -> None:
        self.app = app
        self.routes = routes
        #: the routes to try per method (a heartbeat, the only POST, is not matched against the
        #: GET patterns), each with its literal start up to its first parameter: a path that does
        #: not start with it cannot match, and ``startswith`` is much cheaper than the regex
        self._by_method: dict[str, list[tuple[str, Route]]] = {}
        for route in routes:
            for method in route.methods or ():
                self._by_method.setdefault(method, []).append((route.path.split("{", 1)[0], route))
        self._handlers: dict[type, ExceptionHandler] = {
            k: v for k, v in exception_handlers.items() if isinstance(k, type) and k is not Exception
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._match(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        endpoint: HotEndpoint = route.endpoint  # type: ignore[assignment]
        try:
            response = await endpoint.respond(scope, receive)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
        HTTP_STATS.record(scope["method"], route.path, response.status_code, time.perf_counter() - start)

    def _match(self, scope: Scope) -> Route | None:
        path = scope["path"]
        root = scope.get("root_path")
        if root and path.startswith(root):
            path = path[len(root) :]  # as Starlette's routes see it
        for prefix, route in self._by_method.get(scope["method"], ()):
            if not path.startswith(prefix):
                continue
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                return route
        return None

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The app's handler for ``exc``: the one registered for its nearest class."""
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None

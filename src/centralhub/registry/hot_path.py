"""The discovery hot paths as plain Starlette routes, answered ahead of the FastAPI routes.

``GET /api/v1/services/{name}`` (and ``/discovery/services/{name}``), ``GET …/{name}/endpoint``
and ``POST …/instances/{id}/heartbeat`` are what every service calls all the time. Their
answers come from the same ``*_response`` functions as the documented FastAPI routes in
:mod:`centralhub.registry.api` (one parser, one serializer), and their errors from the app's own
exception handlers; the parity tests hold both ways to the same statuses and bodies.

What they skip is the per-request machinery of the layers between: :class:`HotRoutes` sits in
the app's middleware stack (inside its 500 handler) and hands a request that fully matches a
hot route to that route, under Starlette's ``ExceptionMiddleware`` with the app's handlers and
the request-metrics middleware; anything else (a wrong method included, so the 405 is the
framework's) goes on down the stack to FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from centralhub.metrics.middleware import MetricsMiddleware
from centralhub.registry.api import endpoint_response, heartbeat_response, service_response
from centralhub.registry.service import InstanceRegistry
from centralhub.server.deps import tenant_of

Answer = Callable[[InstanceRegistry, Scope, Receive], Awaitable[Response]]


def _tenant(scope: Scope) -> str:
    return tenant_of(Headers(scope=scope).get("x-tenant-id"))


def _query(scope: Scope, name: str, default: str | None = None) -> str | None:
    raw = scope["query_string"]
    return QueryParams(raw).get(name, default) if raw else default


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
    raw = await Request(scope, receive).body()
    return await heartbeat_response(registry, tenant, params["name"], params["instance_id"], raw)


class HotEndpoint:
    """An ASGI endpoint answering with ``answer(registry, scope, receive)``; one per route, so
    the metrics middleware can tell the routes apart by endpoint alone."""

    def __init__(self, registry: InstanceRegistry, answer: Answer) -> None:
        self.registry = registry
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(self.registry, scope, receive)
        await response(scope, receive, send)


def _route(registry: InstanceRegistry, path: str, answer: Answer, method: str) -> Route:
    route = Route(path, HotEndpoint(registry, answer), methods=[method])
    # exactly the documented method: Starlette would add HEAD to GET, which the FastAPI
    # routes (and OpenAPI) do not offer
    route.methods = {method}
    return route


def hot_routes(registry: InstanceRegistry) -> list[Route]:
    """The routes to put first in the app's router, answering from ``registry``."""
    return [
        _route(registry, "/api/v1/services/{name}", _service, "GET"),
        _route(registry, "/discovery/services/{name}", _service, "GET"),
        _route(registry, "/api/v1/services/{name}/endpoint", _endpoint, "GET"),
        _route(registry, "/api/v1/services/{name}/instances/{instance_id}/heartbeat", _heartbeat, "POST"),
    ]


class HotRoutes:
    """Pure ASGI middleware answering requests that fully match one of ``routes``.

    Starlette's ``Router`` would answer a wrong method on a hot path with its own 405; here such
    a request goes on to the app, whose FastAPI route for that path answers it (as it does with
    the hot routes off). ``exception_handlers`` is the app's mapping, read when the middleware
    stack is built, so the handlers are the ones installed on the app.
    """

    def __init__(self, app: ASGIApp, *, routes: list[Route], exception_handlers: dict[Any, Any]) -> None:
        self.app = app
        self.routes = routes
        # the 500 handler is the app's ServerErrorMiddleware, already outside this one
        handlers = {k: v for k, v in exception_handlers.items() if k not in (500, Exception)}
        self._answer = MetricsMiddleware(ExceptionMiddleware(self._handle, handlers=handlers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope["route"] = route  # what the metrics label is taken from
                    await self._answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _handle(scope: Scope, receive: Receive, send: Send) -> None:
        await scope["route"].handle(scope, receive, send)

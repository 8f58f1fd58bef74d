"""The discovery hot paths as plain Starlette routes, mounted ahead of the FastAPI routes.

``GET /api/v1/services/{name}`` (and ``/discovery/services/{name}``), ``GET …/{name}/endpoint``
and ``POST …/instances/{id}/heartbeat`` are what every service calls all the time. These routes
run inside the same app, behind the same middleware and exception handlers, and call the same
``*_response`` functions as the documented FastAPI routes in :mod:`centralhub.registry.api`,
which they shadow. What they skip is per-request machinery those answers do not need: FastAPI's
dependency injection and response validation, and Starlette's request wrapper (each endpoint is
an ASGI app, which ``Route`` calls directly). Errors propagate to the app's handlers unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

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

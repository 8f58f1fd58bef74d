"""The discovery hot paths as plain Starlette routes, mounted ahead of the FastAPI routes.

``GET /api/v1/services/{name}`` (and ``/discovery/services/{name}``), ``GET …/{name}/endpoint``
and ``POST …/instances/{id}/heartbeat`` are what every service calls all the time. These routes
skip FastAPI's dependency injection and response validation, nothing else: they run inside the
same app, behind the same middleware and exception handlers, and call the same ``*_response``
functions as the documented FastAPI routes in :mod:`centralhub.registry.api`, which they shadow.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from centralhub.registry.api import endpoint_response, heartbeat_response, service_response
from centralhub.registry.service import InstanceRegistry
from centralhub.server.deps import tenant_of


def _registry(request: Request) -> InstanceRegistry:
    registry: InstanceRegistry = request.app.state.hub.registry
    return registry


async def get_service(request: Request) -> Response:
    tenant = tenant_of(request.headers.get("x-tenant-id"))
    status = request.query_params.get("status")
    return service_response(_registry(request), tenant, request.path_params["name"], status)


async def select_endpoint(request: Request) -> Response:
    tenant = tenant_of(request.headers.get("x-tenant-id"))
    strategy = request.query_params.get("strategy", "round_robin")
    return endpoint_response(_registry(request), tenant, request.path_params["name"], strategy)


async def heartbeat(request: Request) -> Response:
    tenant = tenant_of(request.headers.get("x-tenant-id"))
    params = request.path_params
    return await heartbeat_response(
        _registry(request), tenant, params["name"], params["instance_id"], await request.body()
    )


def _route(path: str, endpoint: object, method: str) -> Route:
    route = Route(path, endpoint, methods=[method])  # type: ignore[arg-type]
    # exactly the documented method: Starlette would add HEAD to GET, which the FastAPI
    # routes (and OpenAPI) do not offer
    route.methods = {method}
    return route


def hot_routes() -> list[Route]:
    """The routes to put first in the app's router."""
    return [
        _route("/api/v1/services/{name}", get_service, "GET"),
        _route("/discovery/services/{name}", get_service, "GET"),
        _route("/api/v1/services/{name}/endpoint", select_endpoint, "GET"),
        _route("/api/v1/services/{name}/instances/{instance_id}/heartbeat", heartbeat, "POST"),
    ]

"""The discovery hot paths, answered in front of the framework.

``GET /api/v1/services/{name}`` (and ``/discovery/services/{name}``), ``GET …/{name}/endpoint``
and ``POST …/instances/{id}/heartbeat`` are what every service calls all the time. They are
answered here, before FastAPI's routing, dependency injection and validation, from the
registry's in-memory view and pre-serialized bodies. Anything unusual (a ``status`` filter, an
unknown shape) falls through to the FastAPI routes, which behave identically and document these
paths in OpenAPI.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from centralhub.core.errors import HubError, InvalidInput
from centralhub.metrics.collectors import HTTP_STATS
from centralhub.registry.api import endpoint_dict, heartbeat_answer
from centralhub.registry.service import STRATEGIES, InstanceRegistry
from centralhub.server.deps import tenant_of
from centralhub.server.errors import status_for

_JSON_HEADERS = [(b"content-type", b"application/json")]
_SERVICE = "/api/v1/services/{name}"
_DISCOVERY = "/discovery/services/{name}"
_ENDPOINT = "/api/v1/services/{name}/endpoint"
_HEARTBEAT = "/api/v1/services/{name}/instances/{instance_id}/heartbeat"


def _tenant(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"x-tenant-id":
            return tenant_of(value.decode("latin-1"))
    return "default"


def heartbeat_load(raw: bytes) -> float | None:
    """The optional ``{"load": x}`` of a heartbeat body; ``InvalidInput`` when malformed."""
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInput('heartbeat body must be a JSON object like {"load": 0.4}')
    value = data.get("load")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidInput("load must be a number >= 0")
    return float(value)


class HotPathMiddleware:
    """Answer the hot discovery routes directly; pass everything else on."""

    def __init__(self, app: ASGIApp, registry_of: Any) -> None:
        self.app = app
        # resolved per request so a test can swap the hub; a plain attribute read
        self._registry_of = registry_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/v1/services/") or path.startswith("/discovery/services/"):
                start = time.perf_counter()
                answered = await self._answer(scope, receive, send, path)
                if answered is not None:
                    HTTP_STATS.record(scope["method"], answered[0], answered[1], time.perf_counter() - start)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, path: str) -> tuple[str, int] | None:
        parts = path.split("/")
        method = scope["method"]
        registry: InstanceRegistry = self._registry_of()
        # "", "api", "v1", "services", name, ...   |   "", "discovery", "services", name
        try:
            if parts[1] == "discovery":
                if len(parts) != 4 or method != "GET" or not parts[3] or scope["query_string"]:
                    return None
                body = registry.service_body(_tenant(scope), parts[3])
                await _send(send, 200, body)
                return _DISCOVERY, 200
            n = len(parts)
            name = parts[4]
            if not name:
                return None
            if n == 5 and method == "GET" and not scope["query_string"]:
                if name == "register":
                    return None
                await _send(send, 200, registry.service_body(_tenant(scope), name))
                return _SERVICE, 200
            if n == 6 and parts[5] == "endpoint" and method == "GET":
                strategy = "round_robin"
                if scope["query_string"]:
                    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
                    strategy = query.get("strategy", strategy)
                    if strategy not in STRATEGIES:
                        raise InvalidInput(
                            f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})"
                        )
                inst = registry.select_endpoint(_tenant(scope), name, strategy)
                await _send(send, 200, orjson.dumps(endpoint_dict(inst)))
                return _ENDPOINT, 200
            if n == 8 and parts[5] == "instances" and parts[7] == "heartbeat" and method == "POST":
                tenant = _tenant(scope)
                raw = b""
                more = True
                while more:
                    message = await receive()
                    raw += message.get("body", b"")
                    more = message.get("more_body", False)
                load = heartbeat_load(raw)
                inst = await registry.heartbeat(tenant, name, parts[6], load=load)
                await _send(send, 200, orjson.dumps(heartbeat_answer(inst)))
                return _HEARTBEAT, 200
        except HubError as exc:
            status = status_for(exc)
            code = "invalid_json" if "not valid JSON" in exc.message else exc.code
            await _send(send, status, orjson.dumps({"error": {"code": code, "message": exc.message}}))
            template = {5: _SERVICE, 6: _ENDPOINT, 8: _HEARTBEAT}.get(len(parts), _DISCOVERY)
            return template, status
        return None


async def _send(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

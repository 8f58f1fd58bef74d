"""Pure ASGI middleware recording request counts and latency per route template.

It sits on the discovery hot path, so it does the least it can: one clock read either side,
a status capture in ``send``, and :class:`~centralhub.metrics.collectors.HttpStats` (plain dicts, no
locks) instead of prometheus_client's labelled children. The label is the matched route's
template (``/api/v1/services/{name}``), never the raw path, so series stay bounded;
unmatched paths share one ``<unmatched>`` label.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from centralhub.metrics.collectors import HTTP_STATS

UNMATCHED = "<unmatched>"


class MetricsMiddleware:
    """Count and time every HTTP request; must run inside any middleware that copies ``scope``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._by_endpoint: dict[Any, list[tuple[Any, str]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, status, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        HTTP_STATS.record(scope["method"], self._template(scope), status, seconds)

    def _template(self, scope: Scope) -> str:
        # The router writes what it matched into this same scope dict: FastAPI routes as
        # ``route``, plain Starlette routes (the hot paths) only as ``endpoint``.
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path", UNMATCHED))
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        candidates = self._by_endpoint.get(endpoint)
        if candidates is None:
            candidates = self._index(scope, endpoint)
        if len(candidates) == 1:
            return candidates[0][1]
        # one endpoint mounted on several paths: the path tells which
        path = scope["path"]
        for regex, template in candidates:
            if regex.match(path):
                return template
        return UNMATCHED

    def _index(self, scope: Scope, endpoint: Any) -> list[tuple[Any, str]]:
        routes = getattr(scope.get("router"), "routes", ())
        found = [(r.path_regex, r.path) for r in routes if getattr(r, "endpoint", None) is endpoint]
        self._by_endpoint[endpoint] = found or [(None, UNMATCHED)]
        return self._by_endpoint[endpoint]

"""Pure ASGI middleware recording request counts and latency per route template.

It sits on the discovery hot path, so it does the least it can: one clock read either side,
a status capture in ``send``, and labelled children looked up in a plain dict instead of
``labels()`` (which takes a lock) on every request. The label is the matched route's
template (``/api/v1/services/{name}``), never the raw path, so series stay bounded;
unmatched paths share one ``<unmatched>`` label.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from centralhub.metrics import HTTP_LATENCY, HTTP_REQUESTS

UNMATCHED = "<unmatched>"


class MetricsMiddleware:
    """Count and time every HTTP request; must run inside any middleware that copies ``scope``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

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
        route = scope.get("route")
        # the router writes the matched route into this same scope dict
        template = getattr(route, "path", None) or UNMATCHED
        method = scope["method"]
        key = (method, template, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = HTTP_REQUESTS.labels(method, template, str(status))
        counter.inc()
        hkey = (method, template)
        histogram = self._histograms.get(hkey)
        if histogram is None:
            histogram = self._histograms[hkey] = HTTP_LATENCY.labels(method, template)
        histogram.observe(seconds)

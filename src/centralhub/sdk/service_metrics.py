"""``/metrics`` for services built on ``BaseService``, in Prometheus' text format.

The hub hands every registered instance to Prometheus as a scrape target (its discovery), so a
service that serves nothing there shows as a down target. Each service gets its own
``CollectorRegistry``: several services in one process (tests, a combined worker) must not share
or collide on metric names.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from centralhub.sdk.service_figures import ServiceFigures

__all__ = ["RequestMetrics", "ServiceMetrics"]

#: the route label of a request no route matched: one label, however many paths scanners try
UNMATCHED = "<unmatched>"


class ServiceMetrics:
    """The figures one service keeps: requests by route template, configuration reloads."""

    def __init__(self, service: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "Requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "config_reloads_total",
            "Configuration versions received from the hub, by outcome (applied, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.config_version = Gauge(
            "config_version",
            "Local number of the configuration version last applied (0: defaults only)",
            registry=self.registry,
        )
        info = Gauge(
            "service_info",
            "Always 1; the labels say what runs",
            ["service", "version"],
            registry=self.registry,
        )
        info.labels(service=service, version=version).set(1)

    async def endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Pure ASGI middleware counting each answered request under its route template, and (with
    ``figures``) adding it to what the service reports with its heartbeats: failed when answered
    5xx or when the route let an exception escape, which ErrorDNA then analyses."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, figures: ServiceFigures | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.figures = figures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        raised = False
        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            raised = True
            if self.figures is not None:
                self.figures.error_dna.analyze(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(elapsed)
            if self.figures is not None:
                self.figures.record(elapsed, failed=raised or status >= 500)


def _route_of(scope: Scope) -> str:
    # the router writes the route it matched into this same scope dict
    route = scope.get("route")
    return str(getattr(route, "path", UNMATCHED)) if route is not None else UNMATCHED

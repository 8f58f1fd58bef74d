"""Per-request CPU cost of the app layer, in process: the hub's ASGI app vs bare Starlette.

wrk figures on a shared 2-core machine swing with whatever else runs; calling the ASGI apps
directly (no socket, no HTTP parser, no kernel) measures only what the app adds per request, so
the hub/Starlette gap can be read even on a noisy machine. It also times a prototype of the
change suggested in the report: a pure-ASGI dispatcher in front of FastAPI that answers
``GET /api/v1/services/{name}`` from the registry's cached body before any middleware runs.

``python bench/_asgi_cost.py [N]`` prints microseconds per request (best of 5 rounds).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _starlette_ref import build_app  # noqa: E402 - bench/ is not a package

from centralhub.core.errors import HubError  # noqa: E402
from centralhub.core.settings import load_settings  # noqa: E402
from centralhub.hub import Hub  # noqa: E402
from centralhub.registry.models import Registration  # noqa: E402
from centralhub.server.app import create_app  # noqa: E402

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
PREFIX = "/api/v1/services/"


def service_fast_path(app: ASGIApp, hub: Hub) -> ASGIApp:
    """Prototype: answer the hot service read before FastAPI; everything else goes to ``app``."""
    registry = hub.registry
    start_headers = [(b"content-type", b"application/json")]

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith(PREFIX)
            and not scope["query_string"]
        ):
            name = path[len(PREFIX) :]
            if name and "/" not in name:
                tenant = "default"
                for k, v in scope["headers"]:
                    if k == b"x-tenant-id":
                        tenant = v.decode("latin-1")
                        break
                try:
                    body = registry.service_body(tenant, name)
                except HubError:
                    pass  # the full stack renders errors (and validates the tenant)
                else:
                    headers = [*start_headers, (b"content-length", str(len(body)).encode())]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await app(scope, receive, send)

    return dispatch


async def per_request_us(app: ASGIApp, path: str, n: int) -> float:
    """Best-of-5 mean microseconds for one GET through ``app``."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7000),
        "state": {},
    }
    request = {"type": "http.request", "body": b"", "more_body": False}
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            await app(dict(scope_base), receive, send)
        best = min(best, (time.perf_counter() - t0) / n)
    if any(s != 200 for s in status):
        raise RuntimeError(f"{path}: non-200 answers {set(status)}")
    return best * 1e6


async def main(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env={},
            database_url=f"sqlite:///{Path(tmp) / 'hub.db'}",
            log_level="WARNING",
            # measured through the rate limiter, which must never throttle the measurement
            rate_limit_per_minute=10**12,
            rate_limit_burst=10**12,
        )
        hub = Hub(settings)
        # only the registry is measured; the other components' background loops would add
        # noise (and the health checker's stop can hang: see the benchmark report)
        hub.components.clear()
        await hub.start()
        try:
            for j in range(3):
                reg = Registration(name="svc", host=f"10.0.0.{j}", port=9000 + j, ttl_seconds=3600)
                await hub.registry.register("default", reg)
            app = create_app(settings, hub=hub)
            body = hub.registry.service_body("default", "svc")
            ep = b'{"instance_id":"x"}'
            ref = build_app(body, ep)
            out = {
                "hub_service_us": await per_request_us(app, PREFIX + "svc", n),
                "hub_endpoint_us": await per_request_us(app, PREFIX + "svc/endpoint", n),
                "starlette_service_us": await per_request_us(ref, PREFIX + "svc", n),
                "hub_with_fast_path_service_us": await per_request_us(
                    service_fast_path(app, hub), PREFIX + "svc", n
                ),
            }
        finally:
            await hub.stop()
    return {k: round(v, 1) for k, v in out.items()}


if __name__ == "__main__":
    figures = asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
    for key, value in figures.items():
        print(f"{key:32} {value:8.1f} us/request")

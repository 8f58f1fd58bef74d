"""What authentication costs on the hot paths: the same hub app with auth off and on, same run.

Calls the ASGI app in process (no socket, no HTTP parser), so the figure is the CPU the auth
layer adds per request, readable even on a shared machine where wrk numbers swing. With auth
on, each request carries an API key that the hub verifies (from its short-lived cache after the
first request, as in production).

``python bench/auth_cost.py [N]`` prints microseconds per request (best of 5 rounds) and the
on/off ratio for a discovery read, an endpoint selection and a heartbeat.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from centralhub.core.settings import load_settings
from centralhub.hub import Hub
from centralhub.registry.models import Registration
from centralhub.server.app import create_app

SECRET = "bench-secret-bench-secret-bench-secret"


async def per_request_us(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], n: int
) -> float:
    body = b'{"load": 0.5}' if method == "POST" else b""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7000),
        "state": {},
    }
    request = {"type": "http.request", "body": body, "more_body": False}
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            await app(dict(scope_base), receive, send)
        best = min(best, (time.perf_counter() - t0) / n)
    if statuses != {200}:
        raise RuntimeError(f"{method} {path}: answers {sorted(statuses)}")
    return best * 1e6


async def measure(auth: bool, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "CENTRAL_HUB_SECRET": SECRET,
            "CENTRAL_HUB_AUTH": "required" if auth else "off",
            # the limiter runs in both (its cost is in both figures) but never throttles
            "CENTRAL_HUB_RATE_LIMIT_PER_MINUTE": str(10**12),
            "CENTRAL_HUB_RATE_LIMIT_BURST": str(10**12),
        }
        settings = load_settings(
            env=env, database_url=f"sqlite:///{Path(tmp) / 'hub.db'}", log_level="WARNING"
        )
        hub = Hub(settings)
        app = create_app(settings, hub=hub)
        await hub.start()
        try:
            ids = []
            for j in range(3):
                reg = Registration(name="svc", host=f"10.0.0.{j}", port=9000 + j, ttl_seconds=3600)
                inst, _ = await hub.registry.register("default", reg)
                ids.append(inst.id)
            headers: list[tuple[bytes, bytes]] = []
            if auth:
                _, key = await hub.keys.create("bench", ["registry:write"])
                headers = [(b"authorization", f"Bearer {key}".encode())]
            base = "/api/v1/services/svc"
            return {
                "service": await per_request_us(app, "GET", base, headers, n),
                "endpoint": await per_request_us(app, "GET", base + "/endpoint", headers, n),
                "heartbeat": await per_request_us(
                    app, "POST", f"{base}/instances/{ids[0]}/heartbeat", headers, max(n // 10, 100)
                ),
            }
        finally:
            await hub.stop()


async def main(n: int) -> None:
    off = await measure(False, n)
    on = await measure(True, n)
    print(f"{'route':10} {'auth off us':>12} {'auth on us':>12} {'on/off':>7}")
    for route in off:
        print(f"{route:10} {off[route]:12.1f} {on[route]:12.1f} {on[route] / off[route]:7.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))

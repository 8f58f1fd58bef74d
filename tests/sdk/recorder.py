"""A real HTTP server on 127.0.0.1 that answers like a small hub and records every request's headers.

It runs uvicorn in a thread of its own, so both async clients and blocking ones (the CLI) can
call it from a test. With ``require_key`` set it answers 401 the way the hub does to any request
without ``Authorization: Bearer <require_key>``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port

UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "missing or unknown credential"}}
INSTANCE = {
    "instance_id": "i-1",
    "service_name": "peer",
    "host": "127.0.0.1",
    "port": 9,
    "url": "http://127.0.0.1:9",
    "status": "passing",
    "weight": 1,
    "load": 0.0,
}


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class Recorder:
    url: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    require_key: str | None = None

    def paths(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.seen]

    def authorizations(self) -> set[str | None]:
        return {s.authorization for s in self.seen}

    async def endpoint(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        auth = request.headers.get("authorization")
        self.seen.append(Seen(method, path, auth))
        if self.require_key is not None and auth != f"Bearer {self.require_key}":
            return JSONResponse(UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await _answer(method, path)


async def _answer(method: str, path: str) -> Response:
    """Just enough of the hub's answers for the SDK and the CLI to go about their business."""
    if method == "POST" and path == "/api/v1/services/register":
        return JSONResponse({"instance_id": "i-1", "heartbeat_interval_seconds": 0.2}, status_code=201)
    if path.endswith("/heartbeat"):
        return JSONResponse({"ok": True})
    if method == "DELETE":
        return Response(status_code=204)
    if path == "/api/v1/services":
        return JSONResponse({"services": []})
    if path.endswith("/endpoint"):
        return JSONResponse(INSTANCE)
    if path.startswith("/api/v1/services/"):
        return JSONResponse({"name": "peer", "instances": [INSTANCE]})
    if path.startswith("/api/v1/config/") and path.endswith("/watch"):
        await asyncio.sleep(0.2)
        return Response(status_code=304)
    if path.startswith("/api/v1/config/"):
        return JSONResponse({"service_name": "svc", "config": {"a": 1}, "revision": 1, "version": "1"})
    if path.startswith("/api/v1/dependencies"):
        return JSONResponse({"nodes": [], "edges": []})
    if path.startswith("/api/v1/circuits/"):
        return JSONResponse({"state": "CLOSED"})
    return Response(status_code=204)


def serve_recorder() -> Iterator[Recorder]:
    """Start a :class:`Recorder` server; yields it and stops it afterwards."""
    port = free_port()
    recorder = Recorder(url=f"http://127.0.0.1:{port}", port=port)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", recorder.endpoint, methods=methods)])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"recorder-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the recording server did not start")
        time.sleep(0.02)
    try:
        yield recorder
    finally:
        server.should_exit = True
        thread.join(10)


def only(recorder: Recorder, prefix: str) -> list[Any]:
    """The recorded requests whose ``METHOD path`` starts with ``prefix``."""
    return [s for s in recorder.seen if f"{s.method} {s.path}".startswith(prefix)]

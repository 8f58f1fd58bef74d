"""The Python ceiling for the discovery benchmark: bare Starlette routes on the hub's server settings.

``python bench/_starlette_ref.py PORT SERVICE_BODY_FILE ENDPOINT_BODY_FILE`` serves the two files'
bytes on the hub's two discovery paths through ``uvicorn.run`` with the arguments ``centralhub
serve`` uses (default loop and http implementation, one process, access log off), so the only
difference from the hub is the hub's own work per request.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build_app(service_body: bytes, endpoint_body: bytes) -> Starlette:
    async def service(request: Request) -> Response:
        return Response(service_body, media_type="application/json")

    async def endpoint(request: Request) -> Response:
        return Response(endpoint_body, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"healthy"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/api/v1/services/{name}", service, methods=["GET"]),
            Route("/api/v1/services/{name}/endpoint", endpoint, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def main() -> None:
    port = int(sys.argv[1])
    app = build_app(Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]).read_bytes())
    # keep in step with centralhub.cli.serve's uvicorn.run call
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()

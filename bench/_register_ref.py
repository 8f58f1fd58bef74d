"""The Python ceiling for the registration benchmark: a bare Starlette POST route.

``python bench/_register_ref.py PORT ANSWER_FILE`` accepts ``POST /api/v1/services/register``,
reads and parses the JSON body (orjson) and answers 201 with the file's bytes (an answer of the
hub's size), through ``uvicorn.run`` with the arguments ``centralhub serve`` uses. Validating,
storing and announcing the registration is what the hub adds on top.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build_app(answer: bytes) -> Starlette:
    async def register(request: Request) -> Response:
        body = orjson.loads(await request.body())
        if not isinstance(body, dict) or "name" not in body:
            return Response(b'{"error":"bad body"}', status_code=422, media_type="application/json")
        return Response(answer, status_code=201, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"healthy"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/api/v1/services/register", register, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def main() -> None:
    port = int(sys.argv[1])
    app = build_app(Path(sys.argv[2]).read_bytes())
    # keep in step with centralhub.cli.serve's uvicorn.run call
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=10
    )


if __name__ == "__main__":
    main()

"""The Python ceiling for the heartbeat benchmark: a bare Starlette POST route parsing the body.

``python bench/_starlette_heartbeat_ref.py PORT`` serves
``POST /api/v1/services/{name}/instances/{instance_id}/heartbeat``: it reads the body, parses it
with orjson (as the hub does) and answers a body shaped like the hub's, through ``uvicorn.run``
with the arguments ``centralhub serve`` uses; what the hub costs beyond this is its own work
(credential check, registry lookup, group commit).
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def heartbeat(request: Request) -> Response:
    body = orjson.loads(await request.body() or b"null")
    if isinstance(body, dict):
        body.get("load")
    answer = {"status": "passing", "instance_id": request.path_params["instance_id"], "ttl_seconds": 3600}
    return Response(orjson.dumps(answer), media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"healthy"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/v1/services/{name}/instances/{instance_id}/heartbeat", heartbeat, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
)


if __name__ == "__main__":
    # keep in step with centralhub.cli.serve's uvicorn.run call
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )

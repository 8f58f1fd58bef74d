"""``GET /api/v1/config/{service}`` (and ``/config/{service}``) answered from the memory view.

Every service reads its configuration at start and after each change it is told of, and
through the documented FastAPI route each read was a database query plus a model round trip.
Here the read is a look-up in :class:`~centralhub.config.current.CurrentVersions` and the body
is the one serialized for that revision and for what the caller may see (secrets decrypted for
``config:read`` on the service, masked otherwise). It is served by the registry's
:class:`~centralhub.registry.hot_path.HotRoutes`, so the auth, limits and error handling around
it are the app's own; a version not current in memory is read from the database as before.

The bytes and headers are the FastAPI route's (:func:`render` is the same serialization as
``config.api``); the parity tests compare both.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from centralhub.config.models import ConfigVersion
from centralhub.config.rollout_answers import answer_body, check_instance_id
from centralhub.config.schemas import ConfigRead
from centralhub.config.secrets import SecretBox, may_see_secrets
from centralhub.config.service import ConfigService
from centralhub.server.deps import tenant_of

JSON = "application/json"


def read_body(version: ConfigVersion) -> bytes:
    """The body of a read of ``version`` (already shown as the caller may see it)."""
    return orjson.dumps(ConfigRead.of(version).model_dump(by_alias=True))


class _Prebuilt(Response):
    """The documented route's 200 (``config.api._read``: ETag, then the length and type Starlette
    adds, in that order), without Starlette's header normalisation on every read."""

    def __init__(self, body: bytes, revision: int) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"etag", b'"%d"' % revision),
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]


def renderer(secrets: SecretBox) -> Any:
    def render(version: ConfigVersion, full: bool) -> bytes:
        return read_body(secrets.shown(version, full=full))

    return render


def _tenant(scope: Scope) -> str:
    # the first X-Tenant-ID counts, as in Starlette's Headers (ASGI header names are lower case)
    for key, value in scope["headers"]:
        if key == b"x-tenant-id":
            return tenant_of(value.decode("latin-1"))
    return tenant_of(None)


def _instance(scope: Scope) -> str | None:
    """The asking instance: ``?instance_id=`` first, as the FastAPI route reads it, else the
    ``X-Instance-ID`` header."""
    query = scope.get("query_string", b"")
    if b"instance_id=" in query:
        found = parse_qs(query.decode("latin-1")).get("instance_id")
        if found and found[0]:
            return found[0]
    for key, value in scope["headers"]:
        if key == b"x-instance-id":
            return value.decode("latin-1")
    return None


class ConfigReadEndpoint:
    """The hot route's endpoint (``respond`` is what :class:`HotRoutes` calls)."""

    def __init__(self, config: ConfigService) -> None:
        self.config = config
        self.render = renderer(config.secrets)

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        tenant = _tenant(scope)
        svc = self.config
        service = scope["path_params"]["service"]
        rollouts = svc.rollouts
        if rollouts is not None and rollouts.active:
            who = check_instance_id(_instance(scope))
            if rollouts.assigned(tenant, service, who) is not None:
                answer = await rollouts.answer(tenant, service, who)
                return Response(
                    orjson.dumps(answer_body(answer)),
                    media_type=JSON,
                    headers={"ETag": f'"{answer[0].revision}"'},
                )
        version = await svc.globals.effective(tenant, service, view=True)
        body = svc.current.body(version, may_see_secrets(version), self.render)
        return _Prebuilt(body, version.revision)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (await self.respond(scope, receive))(scope, receive, send)


def config_hot_routes(config: ConfigService) -> list[Route]:
    """The configuration read under both of its paths, GET only (as the FastAPI routes)."""
    endpoint = ConfigReadEndpoint(config)
    routes = []
    for path in ("/api/v1/config/{service}", "/config/{service}"):
        route = Route(path, endpoint, methods=["GET"])
        route.methods = {"GET"}  # Starlette would add HEAD, which the FastAPI routes do not offer
        routes.append(route)
    return routes

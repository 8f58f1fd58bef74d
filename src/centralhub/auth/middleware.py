"""The HTTP edge of auth: who is calling, and may they call this route?

Pure ASGI and outermost, so the hot discovery routes and every FastAPI route are behind it.
With auth off it only records the caller (everyone is :data:`ANONYMOUS`) and the address.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from centralhub.auth import rules
from centralhub.auth.context import current_address, current_principal
from centralhub.auth.errors import Unauthorized
from centralhub.auth.models import ANONYMOUS, Principal
from centralhub.auth.service import KeyService

log = logging.getLogger(__name__)

#: the caller of an open route when auth is on: may do nothing beyond the open routes
PUBLIC = Principal(name="anonymous", scopes=frozenset(), kind="anonymous")

_MISSING = "a credential is required: send 'Authorization: Bearer <key or token>' or 'X-API-Key: <key>'"


#: a refusal ready to send: status, headers, body
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _error(status: int, code: str, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> Answer:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, headers + (extra or []), body


async def _send_error(send: Send, answer: Answer) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def unauthorized(message: str) -> Answer:
    """401 with ``WWW-Authenticate: Bearer``, in the hub's error shape."""
    return _error(401, "unauthorized", message, [(b"www-authenticate", b"Bearer")])


def forbidden(message: str) -> Answer:
    return _error(403, "forbidden", message)


def credential_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer token or ``X-API-Key`` value, or ``None`` when the request carries neither."""
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif key in (b"x-api-key", b"x-consul-token") and value.strip():
            # X-Consul-Token: what Consul's clients send their token as
            return value.decode("latin-1").strip()
    return None


def consul_query_token(scope: Scope) -> str | None:
    """``?token=`` on the Consul-compatible API, where Consul's clients may put the token."""
    if not str(scope.get("path", "")).startswith("/v1/"):
        return None
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if name == "token" and value.strip():
            return value.strip()
    return None


class AuthMiddleware:
    """Authenticate, authorize against :mod:`centralhub.auth.rules`, bind the tenant, and set
    :data:`current_principal` / :data:`current_address` for the request."""

    def __init__(self, app: ASGIApp, *, keys: KeyService, required: bool) -> None:
        self.app = app
        self.keys = keys
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = current_address.set(client[0] if client else None)
        try:
            if not self.required:
                principal = current_principal.set(ANONYMOUS)
                try:
                    await self.app(scope, receive, send)
                finally:
                    current_principal.reset(principal)
                return
            await self._guarded(scope, receive, send)
        finally:
            current_address.reset(address)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        needed, service = rules.match(scope["method"], scope["path"])
        if needed is None:
            token = current_principal.set(PUBLIC)
            try:
                await self.app(scope, receive, send)
            finally:
                current_principal.reset(token)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        credential = credential_of(headers) or consul_query_token(scope)
        if credential is None:
            await _send_error(send, unauthorized(_MISSING))
            return
        try:
            principal = await self.keys.verify(credential)
        except Unauthorized as exc:
            await _send_error(send, unauthorized(exc.message))
            return
        if not principal.has(needed):
            await _send_error(send, forbidden(f"{principal.name!r} may not do this: needs scope {needed}"))
            return
        if principal.tenant is not None:
            asked = next((v for k, v in headers if k == b"x-tenant-id"), None)
            if asked is None or not asked.strip():
                # downstream code (hot routes included) reads the tenant from this header
                scope = dict(scope)
                scope["headers"] = [(k, v) for k, v in headers if k != b"x-tenant-id"]
                scope["headers"].append((b"x-tenant-id", principal.tenant.encode()))
            elif asked.decode("latin-1") != principal.tenant:
                await _send_error(
                    send,
                    forbidden(
                        f"{principal.name!r} is bound to tenant {principal.tenant!r}; "
                        f"tenant {asked.decode('latin-1')[:64]!r} is not allowed"
                    ),
                )
                return
        if service is not None and not principal.may_act_for(service):
            await _send_error(
                send, forbidden(f"{principal.name!r} may not act for service {service[:128]!r}")
            )
            return
        token = current_principal.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            current_principal.reset(token)

"""Pure ASGI middleware (cheap enough for the hot discovery path)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_JSON_LIKE = (b"application/json", b"application/merge-patch+json")


class AssumeJSONMiddleware:
    """Treat request bodies sent without a JSON content type (``curl -d``) as JSON.

    Every body this API accepts is JSON, and rejecting ``curl -d '{...}'`` because curl labels
    it form data helps nobody; a body that is not JSON still gets a clear 400.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            headers = scope["headers"]
            ctype = next((v for k, v in headers if k == b"content-type"), None)
            if ctype is None or not ctype.startswith(_JSON_LIKE):
                scope = dict(scope)
                scope["headers"] = [(k, v) for k, v in headers if k != b"content-type"] + [
                    (b"content-type", b"application/json")
                ]
        await self.app(scope, receive, send)

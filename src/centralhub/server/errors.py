"""The one place domain errors and request mistakes become HTTP answers.

Every error body is ``{"error": {"code": ..., "message": ...}}`` and names what was wrong. The
status of a Central Hub error comes from :data:`centralhub.core.errors.HTTP_STATUS` (by class).
An input too deep or too large to parse is refused where the body is parsed; an unreachable
database answers 503 ``storage_unavailable``; anything else that escapes a route, a
``RecursionError`` included, is the server's fault and answers 500.

Starlette's own 500 handler re-raises after answering, and uvicorn then drops the connection
without a ``Connection: close``, so a pooled client's next request on it fails.
:class:`ErrorBoundary`, the outermost middleware, answers such errors itself and keeps the
connection usable.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from centralhub.core.database import OUTAGE_ERRORS, is_storage_failure
from centralhub.core.errors import CentralHubError, StorageUnavailable, status_for

log = logging.getLogger(__name__)

__all__ = ["ErrorBoundary", "error_response", "install_error_handlers", "status_for"]


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return Response(orjson.dumps({"error": err}), status_code=status, media_type="application/json")


def _body_parse_failure(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not decode a request body, or ``None`` when ``exc`` is something else.

    FastAPI turns any decoding failure (nesting past the recursion limit included) into a bare
    400 "There was an error parsing the body"; the cause says which it was.
    """
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, RecursionError):
        return "request body nests too deeply to parse"
    if isinstance(cause, ValueError | OverflowError):
        return f"request body is not valid JSON: {cause}"
    return None


def json_error_position(doc: Any, pos: Any) -> tuple[int, int] | None:
    """(line, column), both from 1, of character ``pos`` in the body ``doc``; ``None`` if unknown.

    A person fixes a request body in an editor, which counts lines and columns, not bytes.
    """
    if not isinstance(pos, int) or pos < 0:
        return None
    if isinstance(doc, bytes | bytearray):
        doc = bytes(doc).decode("utf-8", "replace")
    if not isinstance(doc, str):
        return None
    pos = min(pos, len(doc))
    return doc.count("\n", 0, pos) + 1, pos - (doc.rfind("\n", 0, pos) + 1) + 1


def _json_invalid(error: dict[str, Any], body: Any) -> Response:
    """A body that is not JSON: what the parser expected, and where, as line and column."""
    reason = str((error.get("ctx") or {}).get("error") or error.get("msg") or "invalid JSON")
    loc = tuple(error.get("loc", ()))
    where = json_error_position(body, loc[1] if len(loc) > 1 else None)
    if where is None:
        return error_response(400, "invalid_json", f"request body is not valid JSON: {reason}")
    line, column = where
    return error_response(
        400,
        "invalid_json",
        f"request body is not valid JSON: {reason} at line {line} column {column}",
        [{"line": line, "column": column, "message": reason}],
    )


def _describe(errors: list[dict[str, Any]]) -> tuple[str, str, int]:
    """Turn pydantic errors into (code, message, status)."""
    parts = []
    status = 422
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "payload_too_large":
            status = 413
        if err.get("type") == "missing":
            msg = "field required"
        parts.append(f"{loc}: {msg}")
    return ("payload_too_large" if status == 413 else "validation_error"), "; ".join(parts), status


def _storage_unavailable() -> Response:
    error = StorageUnavailable("the database is unreachable; retry shortly")
    return error_response(status_for(error), error.code, error.message)


class _OutageLog:
    """One log line per ``every`` seconds while the database is out of reach, not one per request."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last = -every
        self._quiet = 0

    def note(self, method: str, path: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self._quiet += 1
            return
        more = f" ({self._quiet} more refused since the last report)" if self._quiet else ""
        log.warning(
            "%s %s: database unreachable, answered 503: %s: %s%s", method, path, type(exc).__name__, exc, more
        )
        self._last = now
        self._quiet = 0


_outages = _OutageLog()


def unexpected_error_response(method: str, path: str, exc: Exception) -> Response:
    """The answer to an error no handler took: 503 when the database is out of reach, else 500."""
    if is_storage_failure(exc):
        _outages.note(method, path, exc)
        return _storage_unavailable()
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")


class ErrorBoundary:
    """Outermost middleware: an error escaping everything below is answered here, and the
    keep-alive connection stays open (nothing is re-raised to the server)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # ``send`` is not wrapped to learn whether an answer started: that would cost every
        # request (the hot paths included) for the rare error; the server refuses a second
        # response start instead, and then the original error goes up as before
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            response = unexpected_error_response(scope["method"], scope["path"], exc)
            try:
                await response(scope, receive, send)
            except Exception:
                raise exc from None  # half an answer is out: only closing the connection ends it


def install_error_handlers(app: FastAPI) -> None:
    async def _storage(request: Request, exc: Exception) -> Response:
        return unexpected_error_response(request.method, request.url.path, exc)

    # by class, so the hot routes (which use the app's handlers) answer them the same way
    for outage in (*OUTAGE_ERRORS, DBAPIError):
        app.add_exception_handler(outage, _storage)

    @app.exception_handler(CentralHubError)
    async def _hub_error(request: Request, exc: CentralHubError) -> Response:
        status = status_for(exc)
        if isinstance(exc, StorageUnavailable):
            _outages.note(request.method, request.url.path, exc)
        elif status >= 500:
            log.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc.message)
        return error_response(status, exc.code, exc.message, exc.details or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if errors and errors[0].get("type") == "json_invalid":
            return _json_invalid(errors[0], exc.body)
        code, message, status = _describe(errors) if errors else ("validation_error", "invalid request", 422)
        details = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": str(e.get("msg")),
            }
            for e in errors[:20]
        ]
        return error_response(status, code, message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            304: "not_modified",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        if exc.status_code == 304:
            return Response(status_code=304)
        parse_failure = _body_parse_failure(exc)
        if parse_failure is not None:
            return error_response(400, "invalid_json", parse_failure)
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")

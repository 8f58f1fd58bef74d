"""The one place domain errors and request mistakes become HTTP answers.

Every error body is ``{"error": {"code": ..., "message": ...}}`` and names what was wrong.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from centralhub.core.errors import (
    Conflict,
    HubError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[HubError], int] = {
    NotFound: 404,
    InvalidInput: 400,
    Conflict: 409,
    Unavailable: 503,
    PayloadTooLarge: 413,
}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return Response(orjson.dumps({"error": err}), status_code=status, media_type="application/json")


def status_for(exc: HubError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]  # type: ignore[index]
    return getattr(exc, "status_code", 400)


def _describe(errors: list[dict[str, Any]]) -> tuple[str, str, int]:
    """Turn pydantic errors into (code, message, status)."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "invalid_json", f"request body is not valid JSON: {first.get('msg', '')}", 400
    parts = []
    status = 422
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = str(err.get("msg", "invalid"))
        if "larger than" in msg and "metadata" in loc:
            status = 413
        if err.get("type") == "missing":
            msg = "field required"
        parts.append(f"{loc}: {msg}")
    return ("payload_too_large" if status == 413 else "validation_error"), "; ".join(parts), status


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(_: Request, exc: HubError) -> Response:
        return error_response(status_for(exc), exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
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
        code = {404: "not_found", 405: "method_not_allowed", 304: "not_modified"}.get(
            exc.status_code, "http_error"
        )
        if exc.status_code == 304:
            return Response(status_code=304)
        return error_response(exc.status_code, code, str(exc.detail))

    # Inputs extreme enough to trip the interpreter (nesting past the recursion limit, numbers
    # past 64 bits) are the caller's mistake whichever layer notices first.
    @app.exception_handler(RecursionError)
    @app.exception_handler(OverflowError)
    @app.exception_handler(orjson.JSONEncodeError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        log.info("refused %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            400,
            "invalid_input",
            f"the request holds a value out of range or nested too deeply ({type(exc).__name__})",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")

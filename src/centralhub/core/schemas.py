"""Shapes every capability's HTTP edge shares: names and the error body."""

from __future__ import annotations

from pydantic import BaseModel

from centralhub.core.wire import NAME_PATTERN

__all__ = ["NAME_PATTERN", "ErrorBody", "ErrorRead"]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorRead(BaseModel):
    """Every 4xx/5xx answer: ``{"error": {"code", "message"}}``."""

    error: ErrorBody

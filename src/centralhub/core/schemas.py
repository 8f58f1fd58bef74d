"""Shapes every capability's HTTP edge shares: names and the error body."""

from __future__ import annotations

from pydantic import BaseModel

#: service and tenant names: what fits in a NATS subject token, a URL segment and a DNS label
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorRead(BaseModel):
    """Every 4xx/5xx answer: ``{"error": {"code", "message"}}``."""

    error: ErrorBody

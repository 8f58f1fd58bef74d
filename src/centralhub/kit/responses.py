"""``StandardResponse``: the one envelope every service API answers with.

``success`` says which half is filled: ``data`` on success, ``error_message``/``error_code`` on
failure. ``correlation_id`` defaults to the id of the request being served (see ``tracing``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from centralhub.kit.exceptions import BaseServiceError
from centralhub.kit.tracing import get_correlation_id

__all__ = ["StandardResponse"]


@dataclass
class StandardResponse:
    """A success-or-error API body with timing and the request's correlation id."""

    success: bool
    data: Any | None = None
    error_message: str | None = None
    error_code: str | None = None
    processing_time_ms: float | None = None
    correlation_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.correlation_id is None:
            self.correlation_id = get_correlation_id()

    @classmethod
    def ok(
        cls,
        data: Any = None,
        *,
        processing_time_ms: float | None = None,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> StandardResponse:
        """A success response carrying ``data``."""
        return cls(
            success=True,
            data=data,
            processing_time_ms=processing_time_ms,
            correlation_id=correlation_id,
            metadata=dict(metadata or {}),
        )

    @classmethod
    def error(
        cls,
        message: str,
        code: str = "ERROR",
        *,
        processing_time_ms: float | None = None,
        correlation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> StandardResponse:
        """A failure response; ``code`` is machine-readable, ``message`` is for humans."""
        return cls(
            success=False,
            error_message=message,
            error_code=code,
            processing_time_ms=processing_time_ms,
            correlation_id=correlation_id,
            metadata=dict(metadata or {}),
        )

    @classmethod
    def from_exception(
        cls, exc: BaseException, *, processing_time_ms: float | None = None
    ) -> StandardResponse:
        """A failure response for ``exc``; kit errors keep their ``code`` and ``details``."""
        if isinstance(exc, BaseServiceError):
            return cls.error(
                exc.message,
                exc.code,
                processing_time_ms=processing_time_ms,
                metadata={"details": exc.details} if exc.details else None,
            )
        return cls.error(
            str(exc) or type(exc).__name__,
            "INTERNAL_ERROR",
            processing_time_ms=processing_time_ms,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return asdict(self)

"""Instants as callers give them: an aware datetime, or Unix milliseconds as ticks carry them.

Reads and session lookups take either, so a caller holding ``tick.timestamp_ms`` need not
convert it first. Integers are milliseconds; one before 2000-01-01 is refused as a unit
mistake (seconds, most likely), the same bound the validator puts on stored market data, so
such a query could never match anything.
"""

from __future__ import annotations

from datetime import datetime

from centralhub.market.models import ms_to_datetime
from centralhub.market.validation import MIN_TIMESTAMP_MS

__all__ = ["Instant", "to_datetime"]

Instant = datetime | int


def to_datetime(value: Instant, name: str = "instant") -> datetime:
    """``value`` as an aware datetime; ValueError/TypeError naming ``name`` when it cannot be one."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{name}: naive datetime {value.isoformat()} is ambiguous; attach a tzinfo "
                "or pass Unix milliseconds"
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < MIN_TIMESTAMP_MS:
            raise ValueError(
                f"{name}: {value} is before 2000-01-01 as Unix milliseconds (seconds? use {value * 1000})"
            )
        return ms_to_datetime(value)
    raise TypeError(
        f"{name}: expected an aware datetime or Unix milliseconds (int), got {type(value).__name__}"
    )

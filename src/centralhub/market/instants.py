"""Instants as callers give them: datetimes, or the integers and records ticks carry.

Reads and session lookups take every form a tick carries, so a caller holding a tick need not
convert anything: an aware datetime, Unix milliseconds (``timestamp_ms``), Unix seconds
(``timestamp``), or the tick or candle itself. The two integer units cannot be confused after
2000-01-01, the bound the validator puts on stored market data: seconds since then are below
that instant in milliseconds, and anything earlier than it in both units is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from centralhub.market.models import ms_to_datetime
from centralhub.market.validation import MIN_TIMESTAMP_MS

__all__ = ["Instant", "to_datetime"]

Instant = Any
#: 2000-01-01 in Unix seconds
MIN_TIMESTAMP_S = MIN_TIMESTAMP_MS // 1000


def to_datetime(value: Instant, name: str = "instant") -> datetime:
    """``value`` as an aware datetime; ValueError/TypeError naming ``name`` when it cannot be one."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{name}: naive datetime {value.isoformat()} is ambiguous; attach a tzinfo "
                "or pass Unix milliseconds"
            )
        return value
    carried = getattr(value, "timestamp_ms", None)
    if isinstance(carried, int) and not isinstance(carried, bool):
        value = carried  # a tick or candle stands for its own instant
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= MIN_TIMESTAMP_MS:
            return ms_to_datetime(value)
        if value >= MIN_TIMESTAMP_S:
            return ms_to_datetime(value * 1000)  # seconds, as ``TickData.timestamp`` carries them
        raise ValueError(f"{name}: {value} is before 2000-01-01 in Unix seconds and in milliseconds")
    raise TypeError(
        f"{name}: expected an aware datetime, Unix seconds or milliseconds (int), or a tick or "
        f"candle, got {type(value).__name__}"
    )

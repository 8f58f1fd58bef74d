"""Epoch seconds in the domain, timezone-aware datetimes in the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def to_datetime(ts: float) -> datetime: ...
@overload
def to_datetime(ts: None) -> None: ...
def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


@overload
def to_epoch(value: datetime) -> float: ...
@overload
def to_epoch(value: None) -> None: ...
def to_epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    # SQLite hands timezone-aware columns back naive; they were written as UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()

"""Time in one place: epoch seconds in the domain, aware datetimes in the tables, RFC 3339 on the wire.

Every timestamp an API answers with goes through :func:`rfc3339` (UTC, milliseconds, ``Z``), so a
client parses one format everywhere. :class:`Clock` is injected wherever expiry is computed, so
tests move time instead of sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, overload


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


@overload
def rfc3339(ts: float) -> str: ...
@overload
def rfc3339(ts: None) -> None: ...
def rfc3339(ts: float | None) -> str | None:
    """``2026-12-01T21:22:42.123Z``: UTC, millisecond precision (truncated, never rounded up)."""
    if ts is None:
        return None
    # isoformat truncates to the millisecond as well, at half the cost of strftime: listings
    # format three times per instance
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_rfc3339(text: str) -> float:
    """Epoch seconds from an RFC 3339 / ISO 8601 time; naive times are taken as UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class Clock(Protocol):
    """Wall-clock seconds since the epoch; ``time.time`` in production, a fake in tests."""

    def __call__(self) -> float: ...


class ManualClock:
    """A clock that moves only when told: expiry tests advance it instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

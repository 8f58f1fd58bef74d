"""Market data models (fields as the platform's data manager stores them): ticks, candles, economic events.

Plain dataclasses: validation lives in :mod:`centralhub.market.validation` so a model can hold
what arrived on the wire and the validator can report *everything* wrong with it.
``timestamp`` is Unix seconds and ``timestamp_ms`` Unix milliseconds; give either, the other is
derived (``timestamp_ms`` wins when both are given and disagree only below the second).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Self

__all__ = [
    "CandleData",
    "EconomicEvent",
    "HealthCheckResponse",
    "TickData",
    "datetime_to_ms",
    "ms_to_datetime",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def ms_to_datetime(timestamp_ms: int) -> datetime:
    """Unix milliseconds → aware UTC datetime (exact, no float rounding)."""
    return _EPOCH + timedelta(milliseconds=timestamp_ms)


def datetime_to_ms(value: datetime) -> int:
    """Aware datetime → Unix milliseconds (exact); naive datetimes are rejected."""
    if value.tzinfo is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {value.isoformat()}")
    return (value - _EPOCH) // _ONE_MS


def _fill_timestamps(obj: Any) -> None:
    # Only fill when the given one is an int; wrong types are left for the validator to report.
    ts, ts_ms = obj.timestamp, obj.timestamp_ms
    if ts_ms is None and isinstance(ts, int) and not isinstance(ts, bool):
        obj.timestamp_ms = ts * 1000
    elif ts is None and isinstance(ts_ms, int) and not isinstance(ts_ms, bool):
        obj.timestamp = ts_ms // 1000


class _Record:
    """Shared (de)serialisation helpers for the market dataclasses."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from a mapping, ignoring unknown keys (wire payloads carry extras)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @property
    def time(self) -> datetime:
        """The record's instant as an aware UTC datetime."""
        return ms_to_datetime(self.timestamp_ms)  # type: ignore[attr-defined]


@dataclass(kw_only=True)
class TickData(_Record):
    """One bid/ask quote."""

    symbol: str
    timestamp: int = None  # type: ignore[assignment]  # derived from timestamp_ms if omitted
    timestamp_ms: int = None  # type: ignore[assignment]
    bid: float
    ask: float
    volume: float | None = None
    source: str = "unknown"
    exchange: str | None = None
    event_type: str = "quote"

    def __post_init__(self) -> None:
        _fill_timestamps(self)

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> float:
        return self.ask - self.bid


@dataclass(kw_only=True)
class CandleData(_Record):
    """One OHLCV bar; ``timestamp`` is the bar's open time."""

    symbol: str
    timeframe: str
    timestamp: int = None  # type: ignore[assignment]
    timestamp_ms: int = None  # type: ignore[assignment]
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None
    vwap: float | None = None
    num_trades: int | None = None
    source: str = "unknown"
    event_type: str = "ohlcv"

    def __post_init__(self) -> None:
        _fill_timestamps(self)


@dataclass(kw_only=True)
class EconomicEvent(_Record):
    """A scheduled macro release (e.g. US Non-Farm Payrolls); values are as published."""

    event_name: str
    country: str
    currency: str
    timestamp: int = None  # type: ignore[assignment]
    timestamp_ms: int = None  # type: ignore[assignment]
    impact: str = "low"  # low | medium | high
    actual: float | None = None
    forecast: float | None = None
    previous: float | None = None
    source: str = "unknown"
    event_type: str = "economic_event"

    def __post_init__(self) -> None:
        _fill_timestamps(self)


@dataclass(kw_only=True)
class HealthCheckResponse:
    """Health of the data layer: overall status plus one entry per backend."""

    status: str  # healthy | degraded | unhealthy
    timestamp: int
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

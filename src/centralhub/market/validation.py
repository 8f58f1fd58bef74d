"""DataValidator: checks ticks, candles and economic events and reports *every* problem.

Usage::

    validator = DataValidator()
    if not validator.validate_tick(payload):
        log.error("invalid tick: %s", validator.errors)

``check_tick`` / ``check_candle`` / ``check_event`` return the error list directly, and
``ensure_tick`` raises :class:`ValidationError` carrying it. Each message starts with the field
name (``"bid: must be > 0, got -1.0"``) so an operator can see what to fix.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import is_dataclass
from typing import Any

from centralhub.market.exceptions import ValidationError
from centralhub.market.models import CandleData, EconomicEvent, TickData

__all__ = ["DataValidator", "SYMBOL_PATTERN", "TIMEFRAME_PATTERN"]

# EURUSD, XAUUSD, US30, BTC/USDT, EUR_USD, BRK.B — upper-case letters/digits, one separator.
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,12}(?:[/._-][A-Z0-9]{1,12})?$")
TIMEFRAME_PATTERN = re.compile(r"^(?:[1-9][0-9]*[mhdw]|[MHDW][1-9][0-9]*|1mo|MN)$")
IMPACTS = ("low", "medium", "high")

# 2000-01-01T00:00:00Z: nothing older is live market data; anything older is a unit mistake.
MIN_TIMESTAMP_MS = 946_684_800_000
MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000

Payload = Mapping[str, Any] | TickData | CandleData | EconomicEvent


def _as_mapping(data: Any) -> Mapping[str, Any] | None:
    if is_dataclass(data) and not isinstance(data, type):
        # The instance dict, not asdict(): asdict deep-copies and dominated batch validation time.
        return vars(data)
    if isinstance(data, Mapping):
        return data
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class DataValidator:
    """Validates market payloads (mappings or model instances); keeps the last ``errors``."""

    def __init__(self, *, max_future_skew_ms: int = MAX_FUTURE_SKEW_MS) -> None:
        self.max_future_skew_ms = max_future_skew_ms
        self.errors: list[str] = []

    # -- public API -------------------------------------------------------------------------
    def validate_tick(self, data: Payload) -> bool:
        """True if ``data`` is a valid tick; otherwise False with every problem in ``errors``."""
        self.errors = self.check_tick(data)
        return not self.errors

    def validate_candle(self, data: Payload) -> bool:
        self.errors = self.check_candle(data)
        return not self.errors

    def validate_event(self, data: Payload) -> bool:
        self.errors = self.check_event(data)
        return not self.errors

    def ensure_tick(self, data: Payload) -> None:
        """Raise :class:`ValidationError` listing every problem unless ``data`` is a valid tick."""
        if errors := self.check_tick(data):
            raise ValidationError(errors, "tick")

    def check_tick(self, data: Payload) -> list[str]:
        d = _as_mapping(data)
        if d is None:
            return [f"tick: expected a mapping or TickData, got {type(data).__name__}"]
        errors: list[str] = []
        self._symbol(d, errors)
        self._timestamps(d, errors)
        bid = self._price(d, "bid", errors)
        ask = self._price(d, "ask", errors)
        if bid is not None and ask is not None and bid > ask:
            errors.append(f"bid/ask: bid {bid} must be <= ask {ask}")
        self._optional_number(d, "volume", errors, minimum=0)
        self._optional_str(d, ("source", "exchange", "event_type"), errors)
        return errors

    def check_candle(self, data: Payload) -> list[str]:
        d = _as_mapping(data)
        if d is None:
            return [f"candle: expected a mapping or CandleData, got {type(data).__name__}"]
        errors: list[str] = []
        self._symbol(d, errors)
        tf = d.get("timeframe")
        if tf is None:
            errors.append("timeframe: required")
        elif not isinstance(tf, str) or not TIMEFRAME_PATTERN.match(tf):
            errors.append(f"timeframe: expected e.g. '1m', '5m', '1h', '1d' or 'H1', got {tf!r}")
        self._timestamps(d, errors)
        prices = {name: self._price(d, name, errors) for name in ("open", "high", "low", "close")}
        o, h, low, c = (prices[k] for k in ("open", "high", "low", "close"))
        if h is not None and low is not None:
            if low > h:
                errors.append(f"high/low: low {low} must be <= high {h}")
            for name, value in (("open", o), ("close", c)):
                if value is not None and not low <= value <= h:
                    errors.append(f"{name}: {value} must lie within [low {low}, high {h}]")
        self._optional_number(d, "volume", errors, minimum=0)
        self._optional_number(d, "vwap", errors, minimum=0, strict=True)
        n = d.get("num_trades")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            errors.append(f"num_trades: expected an int >= 0, got {n!r}")
        self._optional_str(d, ("source", "event_type"), errors)
        return errors

    def check_event(self, data: Payload) -> list[str]:
        d = _as_mapping(data)
        if d is None:
            return [f"event: expected a mapping or EconomicEvent, got {type(data).__name__}"]
        errors: list[str] = []
        name = d.get("event_name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"event_name: required non-empty str, got {name!r}")
        country = d.get("country")
        if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2,3}", country):
            errors.append(f"country: expected an ISO code like 'US' or 'EU', got {country!r}")
        currency = d.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            errors.append(f"currency: expected an ISO 4217 code like 'USD', got {currency!r}")
        # Events are scheduled ahead, so only the lower bound applies.
        self._timestamps(d, errors, allow_future=True)
        impact = d.get("impact", "low")
        if impact not in IMPACTS:
            errors.append(f"impact: expected one of {', '.join(IMPACTS)}, got {impact!r}")
        for key in ("actual", "forecast", "previous"):
            self._optional_number(d, key, errors)
        return errors

    # -- field checks (append to errors, return the parsed value when usable) -----------------
    @staticmethod
    def _symbol(d: Mapping[str, Any], errors: list[str]) -> None:
        symbol = d.get("symbol")
        if symbol is None:
            errors.append("symbol: required")
        elif not isinstance(symbol, str):
            errors.append(f"symbol: expected str, got {type(symbol).__name__}")
        elif not SYMBOL_PATTERN.match(symbol):
            errors.append(
                f"symbol: {symbol!r} is not a valid symbol (upper-case letters/digits, "
                "optionally one '/', '.', '_' or '-' separator, e.g. 'EURUSD', 'BTC/USDT')"
            )

    def _timestamps(self, d: Mapping[str, Any], errors: list[str], *, allow_future: bool = False) -> None:
        ts, ts_ms = d.get("timestamp"), d.get("timestamp_ms")
        if ts is None and ts_ms is None:
            errors.append("timestamp: required (Unix seconds, or timestamp_ms in milliseconds)")
            return
        ok = True
        for key, value in (("timestamp", ts), ("timestamp_ms", ts_ms)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                errors.append(f"{key}: expected int, got {type(value).__name__} {value!r}")
                ok = False
        if not ok:
            return
        if ts is not None and ts_ms is not None and ts_ms // 1000 != ts:
            errors.append(f"timestamp: {ts} s disagrees with timestamp_ms {ts_ms}")
        # Report against the field the caller most likely set (seconds when both are present).
        key = "timestamp" if ts is not None else "timestamp_ms"
        ms: int = ts * 1000 if ts is not None else (ts_ms or 0)
        if ms < MIN_TIMESTAMP_MS:
            errors.append(f"{key}: {d[key]} is before 2000-01-01 (wrong unit?)")
        elif not allow_future and ms > time.time() * 1000 + self.max_future_skew_ms:
            errors.append(f"{key}: {d[key]} is more than a day in the future (wrong unit?)")

    @staticmethod
    def _price(d: Mapping[str, Any], key: str, errors: list[str]) -> float | None:
        value = d.get(key)
        if value is None:
            errors.append(f"{key}: required")
        elif not _is_number(value):
            errors.append(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        elif not math.isfinite(value) or value <= 0:
            errors.append(f"{key}: must be a finite number > 0, got {value}")
        else:
            return float(value)
        return None

    @staticmethod
    def _optional_number(
        d: Mapping[str, Any],
        key: str,
        errors: list[str],
        *,
        minimum: float | None = None,
        strict: bool = False,
    ) -> None:
        value = d.get(key)
        if value is None:
            return
        if not _is_number(value) or not math.isfinite(value):
            errors.append(f"{key}: expected a finite number, got {value!r}")
        elif minimum is not None and (value <= minimum if strict else value < minimum):
            errors.append(f"{key}: must be {'>' if strict else '>='} {minimum}, got {value}")

    @staticmethod
    def _optional_str(d: Mapping[str, Any], keys: tuple[str, ...], errors: list[str]) -> None:
        for key in keys:
            value = d.get(key)
            if value is not None and not isinstance(value, str):
                errors.append(f"{key}: expected str, got {type(value).__name__}")

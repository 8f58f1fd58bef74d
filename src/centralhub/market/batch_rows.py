"""Validated tick and candle batches turned into COPY rows: one pass, every error reported.

A batch becomes a list of binary COPY rows (:mod:`copy_binary`) in primary-key order with one
row per key (the last write of a repeated key wins). Key order matters: every writer takes its
row locks in the same order, so concurrent batches over the same keys wait for each other
instead of deadlocking.

Ticks arrive by the tens of thousands per second, so :func:`tick_rows` (and
:func:`candle_rows` likewise) first tries a conservative inline check that only *accepts*
(exact ``float`` prices, a symbol already seen to match, a timestamp in range...). Anything it
does not accept goes through :meth:`DataValidator.check_tick`, which stays the single
authority on what is valid and on the wording of every error.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from centralhub.market.copy_binary import candle_row, tick_row
from centralhub.market.models import CandleData, TickData
from centralhub.market.validation import MIN_TIMESTAMP_MS, SYMBOL_PATTERN, TIMEFRAME_PATTERN

__all__ = ["CandleRows", "TickRows", "candle_rows", "tick_rows"]

_INF = float("inf")
# Symbols already matched against SYMBOL_PATTERN; bounded so a stream of junk cannot grow it.
_KNOWN_SYMBOLS: set[str] = set()
_KNOWN_SYMBOLS_MAX = 10_000
_KNOWN_TIMEFRAMES: set[str] = set()
_INT4_END = 2**31  # num_trades is a PostgreSQL INTEGER


@dataclass(slots=True)
class TickRows:
    """``rows`` for COPY in key order, the newest tick per symbol, and every validation error."""

    rows: list[bytes]
    newest: dict[str, TickData]
    errors: list[str]


@dataclass(slots=True)
class CandleRows:
    rows: list[bytes]
    errors: list[str]


def _known_symbol(symbol: Any) -> bool:
    if type(symbol) is not str or not SYMBOL_PATTERN.match(symbol):
        return False
    if len(_KNOWN_SYMBOLS) >= _KNOWN_SYMBOLS_MAX:
        _KNOWN_SYMBOLS.clear()
    _KNOWN_SYMBOLS.add(symbol)
    return True


def tick_rows(
    ticks: Sequence[Any], check: Callable[[Any], list[str]], *, max_future_skew_ms: int
) -> TickRows:
    """Validate ``ticks`` and build their rows (in ``copy_binary.TICK_COLUMNS`` order)."""
    latest_ms = int(time.time() * 1000) + max_future_skew_ms
    known = _KNOWN_SYMBOLS
    rows: list[bytes] = []
    append = rows.append
    newest: dict[str, TickData] = {}
    errors: list[str] = []
    # Feeds send keys in increasing order; only a batch that is not needs sorting and deduping.
    increasing = True
    last_ms, last_symbol = -1, ""
    many = len(ticks) > 1
    for i, t in enumerate(ticks):
        if type(t) is TickData:
            ms, symbol, bid, ask, volume = t.timestamp_ms, t.symbol, t.bid, t.ask, t.volume
            # The common case, accepted inline; NaN fails every comparison and falls through.
            if (
                type(ms) is int
                and MIN_TIMESTAMP_MS <= ms <= latest_ms
                and type(t.timestamp) is int
                and t.timestamp == ms // 1000
                and (symbol in known if type(symbol) is str else False)
                and type(bid) is float
                and type(ask) is float
                and 0.0 < bid <= ask < _INF
                and (volume is None or (type(volume) is float and 0.0 <= volume < _INF))
                and type(t.source) is str
                and type(t.event_type) is str
                and (t.exchange is None or type(t.exchange) is str)
            ):
                if ms < last_ms or (ms == last_ms and symbol <= last_symbol):
                    increasing = False
                last_ms, last_symbol = ms, symbol
                append(tick_row(ms, bid, ask, volume, (symbol, t.source, t.exchange, t.event_type)))
                newest[symbol] = t
                continue
        if not isinstance(t, TickData):
            errors.append(f"ticks[{i}]: expected TickData, got {type(t).__name__}")
            continue
        if problems := check(t):
            prefix = f"ticks[{i}]." if many else ""
            errors.extend(prefix + p for p in problems)
            continue
        _known_symbol(t.symbol)  # so the next tick of this symbol takes the inline check
        ms = _ms(t)
        if ms < last_ms or (ms == last_ms and t.symbol <= last_symbol):
            increasing = False
        last_ms, last_symbol = ms, t.symbol
        volume = None if t.volume is None else float(t.volume)
        strings = (t.symbol, t.source, t.exchange, t.event_type)
        append(tick_row(ms, float(t.bid), float(t.ask), volume, strings))
        newest[t.symbol] = t
    if errors:
        return TickRows([], {}, errors)
    if increasing:
        return TickRows(rows, newest, errors)
    # Keys out of order or repeated: the last row per key, sorted; "newest" becomes the greatest
    # timestamp per symbol rather than the last tick seen.
    # Without errors every tick gave exactly one row, in order.
    by_key = dict(zip(((_ms(t), t.symbol) for t in ticks), rows, strict=True))
    newest = {}
    for t in ticks:
        seen = newest.get(t.symbol)
        if seen is None or _ms(t) >= _ms(seen):
            newest[t.symbol] = t
    return TickRows([by_key[k] for k in sorted(by_key)], newest, errors)


def _ms(record: TickData | CandleData) -> int:
    return record.timestamp_ms if record.timestamp_ms is not None else record.timestamp * 1000


def candle_rows(
    candles: Sequence[Any], check: Callable[[Any], list[str]], *, max_future_skew_ms: int
) -> CandleRows:
    """Validate ``candles`` and build their rows (in ``copy_binary.CANDLE_COLUMNS`` order)."""
    latest_ms = int(time.time() * 1000) + max_future_skew_ms
    symbols, timeframes = _KNOWN_SYMBOLS, _KNOWN_TIMEFRAMES
    rows: dict[tuple[int, str, str], bytes] = {}
    errors: list[str] = []
    many = len(candles) > 1
    for i, c in enumerate(candles):
        if type(c) is CandleData:
            ms, symbol, timeframe, low, high = c.timestamp_ms, c.symbol, c.timeframe, c.low, c.high
            o, close, volume, vwap, trades = c.open, c.close, c.volume, c.vwap, c.num_trades
            if (
                type(ms) is int
                and MIN_TIMESTAMP_MS <= ms <= latest_ms
                and type(c.timestamp) is int
                and c.timestamp == ms // 1000
                and (symbol in symbols if type(symbol) is str else False)
                and (timeframe in timeframes if type(timeframe) is str else False)
                and type(o) is float
                and type(high) is float
                and type(low) is float
                and type(close) is float
                and 0.0 < low <= o <= high < _INF
                and low <= close <= high
                and (volume is None or (type(volume) is float and 0.0 <= volume < _INF))
                and (vwap is None or (type(vwap) is float and 0.0 < vwap < _INF))
                and (trades is None or (type(trades) is int and 0 <= trades < _INT4_END))
                and type(c.source) is str
                and type(c.event_type) is str
            ):
                strings = (symbol, timeframe, c.source)
                rows[(ms, symbol, timeframe)] = candle_row(
                    ms, (o, high, low, close), volume, vwap, trades, strings
                )
                continue
        if not isinstance(c, CandleData):
            errors.append(f"candles[{i}]: expected CandleData, got {type(c).__name__}")
            continue
        prefix = f"candles[{i}]." if many else ""
        if problems := check(c):
            errors.extend(prefix + p for p in problems)
            continue
        _known_symbol(c.symbol)
        if len(timeframes) < _KNOWN_SYMBOLS_MAX and TIMEFRAME_PATTERN.match(c.timeframe):
            timeframes.add(c.timeframe)
        ms = _ms(c)
        prices = (float(c.open), float(c.high), float(c.low), float(c.close))
        volume = None if c.volume is None else float(c.volume)
        vwap = None if c.vwap is None else float(c.vwap)
        try:
            row = candle_row(ms, prices, volume, vwap, c.num_trades, (c.symbol, c.timeframe, c.source))
        except struct.error:
            errors.append(f"{prefix}num_trades: {c.num_trades} does not fit a PostgreSQL INTEGER")
            continue
        rows[(ms, c.symbol, c.timeframe)] = row
    if errors:
        return CandleRows([], errors)
    return CandleRows([rows[k] for k in sorted(rows)], errors)

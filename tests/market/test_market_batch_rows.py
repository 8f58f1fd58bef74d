"""Batches into binary COPY rows: the inline check never accepts what the validator refuses."""

from __future__ import annotations

import struct
import time
from dataclasses import replace
from typing import Any

import pytest

from centralhub.market import DataValidator, TickData
from centralhub.market.batch_rows import candle_rows, tick_rows
from centralhub.market.copy_binary import CANDLE_COLUMNS, TICK_COLUMNS
from centralhub.market.models import CandleData

NOW_MS = int(time.time() * 1000)
VALIDATOR = DataValidator()


def _decode(row: bytes, columns: tuple[str, ...]) -> dict[str, Any]:
    """A binary COPY row read back as PostgreSQL reads it (timestamps as Unix ms)."""
    assert struct.unpack_from(">h", row)[0] == len(columns)
    values: dict[str, Any] = {}
    pos = 2
    for name in columns:
        (size,) = struct.unpack_from(">i", row, pos)
        pos += 4
        if size == -1:
            values[name] = None
            continue
        raw = row[pos : pos + size]
        pos += size
        if name == "timestamp":
            values[name] = struct.unpack(">q", raw)[0] // 1000 + 946_684_800_000
        elif name == "num_trades":
            values[name] = struct.unpack(">i", raw)[0]
        elif size == 8 and name not in ("symbol", "source", "exchange", "event_type", "timeframe"):
            values[name] = struct.unpack(">d", raw)[0]
        else:
            values[name] = raw.decode()
    assert pos == len(row)
    return values


def _ticks_of(rows: list[bytes]) -> list[dict[str, Any]]:
    return [_decode(r, TICK_COLUMNS) for r in rows]


def _rows(ticks: list[Any]) -> Any:
    return tick_rows(ticks, VALIDATOR.check_tick, max_future_skew_ms=VALIDATOR.max_future_skew_ms)


GOOD = TickData(symbol="EURUSD", timestamp_ms=NOW_MS - 5000, bid=1.1, ask=1.2, volume=2.0)

BAD_VARIANTS = {
    "nan bid": {"bid": float("nan")},
    "infinite ask": {"ask": float("inf")},
    "bid above ask": {"bid": 1.3},
    "zero bid": {"bid": 0.0},
    "bool price": {"bid": True},
    "negative volume": {"volume": -1.0},
    "nan volume": {"volume": float("nan")},
    "lower-case symbol": {"symbol": "eurusd"},
    "symbol not a str": {"symbol": 42},
    "seconds disagree": {"timestamp": (NOW_MS - 5000) // 1000 + 1},
    "float timestamp_ms": {"timestamp_ms": float(NOW_MS)},
    "before 2000": {"timestamp_ms": 1_000, "timestamp": 1},
    "far future": {"timestamp_ms": NOW_MS + 3 * 86_400_000, "timestamp": (NOW_MS + 3 * 86_400_000) // 1000},
    "source not a str": {"source": 5},
}


@pytest.mark.parametrize("change", BAD_VARIANTS.values(), ids=BAD_VARIANTS.keys())
def test_every_invalid_tick_is_reported_as_the_validator_words_it(change: dict[str, Any]) -> None:
    bad = replace(GOOD, **change)
    # The known symbol comes first, so the bad tick is a candidate for the inline check.
    result = _rows([GOOD, bad, GOOD])
    assert result.errors == [f"ticks[1].{e}" for e in VALIDATOR.check_tick(bad)]
    assert result.errors and result.rows == []


def test_valid_values_outside_the_inline_check_are_accepted() -> None:
    ticks = [
        GOOD,
        replace(GOOD, timestamp_ms=GOOD.timestamp_ms + 1, timestamp=None, bid=1, ask=2, volume=3),
        replace(GOOD, timestamp_ms=GOOD.timestamp_ms + 2, timestamp=None, volume=None),
        TickData(symbol="BTC/USDT", timestamp=GOOD.timestamp + 1, bid=60_000.0, ask=60_001.0),
    ]
    result = _rows(ticks)
    assert result.errors == []
    assert _ticks_of(result.rows) == [
        {"timestamp": t.timestamp_ms, "bid": t.bid, "ask": t.ask, "volume": t.volume, "symbol": t.symbol,
         "source": t.source, "exchange": t.exchange, "event_type": t.event_type}
        for t in ticks
    ]  # fmt: skip
    assert result.newest == {"EURUSD": ticks[2], "BTC/USDT": ticks[3]}


def test_rows_come_in_key_order_with_the_last_write_per_key() -> None:
    a = replace(GOOD, timestamp_ms=GOOD.timestamp_ms + 10, timestamp=None, bid=1.15)
    later_same_key = replace(GOOD, bid=1.05)
    result = _rows([a, GOOD, later_same_key, replace(GOOD, symbol="AUDUSD")])
    assert [(r["symbol"], r["bid"]) for r in _ticks_of(result.rows)] == [
        ("AUDUSD", 1.1), ("EURUSD", 1.05), ("EURUSD", 1.15),
    ]  # fmt: skip
    assert result.newest["EURUSD"] is a  # the greatest timestamp, not the last one seen


def test_timestamps_encode_exactly_to_the_millisecond() -> None:
    ticks = [replace(GOOD, timestamp_ms=ms, timestamp=None) for ms in range(NOW_MS - 999, NOW_MS)]
    result = _rows(ticks)
    assert [r["timestamp"] for r in _ticks_of(result.rows)] == [t.timestamp_ms for t in ticks]


def test_not_a_tick_is_named() -> None:
    result = _rows([GOOD, {"symbol": "EURUSD"}])
    assert result.errors == ["ticks[1]: expected TickData, got dict"]


def test_candle_rows_are_sorted_and_deduplicated() -> None:
    def candle(i: int, close: float) -> CandleData:
        return CandleData(symbol="EURUSD", timeframe="1h", timestamp_ms=NOW_MS - i * 3_600_000,
                          open=1.1, high=1.3, low=1.0, close=close)  # fmt: skip

    result = _candle_rows([candle(1, 1.2), candle(2, 1.2), candle(1, 1.25)])
    assert result.errors == []
    assert [_decode(r, CANDLE_COLUMNS)["close"] for r in result.rows] == [1.2, 1.25]
    bad = _candle_rows([candle(1, 1.2), candle(2, 1.5)])
    assert bad.errors == ["candles[1].close: 1.5 must lie within [low 1.0, high 1.3]"]


def _candle_rows(candles: list[Any]) -> Any:
    return candle_rows(candles, VALIDATOR.check_candle, max_future_skew_ms=VALIDATOR.max_future_skew_ms)


CANDLE = CandleData(symbol="EURUSD", timeframe="1h", timestamp_ms=NOW_MS - 3_600_000, open=1.1,
                    high=1.3, low=1.0, close=1.2, volume=5.0, vwap=1.15, num_trades=3)  # fmt: skip
BAD_CANDLES = {
    "open above high": {"open": 1.4},
    "close below low": {"close": 0.9},
    "low above high": {"low": 1.35},
    "nan close": {"close": float("nan")},
    "zero vwap": {"vwap": 0.0},
    "negative trades": {"num_trades": -1},
    "bool trades": {"num_trades": True},
    "bad timeframe": {"timeframe": "1x"},
    "float timestamp_ms": {"timestamp_ms": float(NOW_MS)},
}


@pytest.mark.parametrize("change", BAD_CANDLES.values(), ids=BAD_CANDLES.keys())
def test_every_invalid_candle_is_reported_as_the_validator_words_it(change: dict[str, Any]) -> None:
    bad = replace(CANDLE, **change)
    result = _candle_rows([CANDLE, bad])
    assert result.errors == [f"candles[1].{e}" for e in VALIDATOR.check_candle(bad)]
    assert result.errors and result.rows == []


def test_candle_num_trades_beyond_an_integer_is_named() -> None:
    big = replace(CANDLE, num_trades=2**31)
    assert _candle_rows([CANDLE, big]).errors == [
        "candles[1].num_trades: 2147483648 does not fit a PostgreSQL INTEGER"
    ]
    assert _decode(_candle_rows([CANDLE]).rows[0], CANDLE_COLUMNS) == {
        "timestamp": CANDLE.timestamp_ms, "open": 1.1, "high": 1.3, "low": 1.0, "close": 1.2,
        "volume": 5.0, "vwap": 1.15, "num_trades": 3, "symbol": "EURUSD", "timeframe": "1h",
        "source": "unknown",
    }  # fmt: skip

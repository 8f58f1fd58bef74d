"""DataValidator reports every problem, and the models derive their timestamps."""

from __future__ import annotations

import time

import pytest

from centralhub.market import CandleData, DataValidator, EconomicEvent, TickData, ValidationError

NOW_S = int(time.time())


def test_valid_tick_mapping_and_model() -> None:
    v = DataValidator()
    assert v.validate_tick({"symbol": "EURUSD", "timestamp": NOW_S, "bid": 1.085, "ask": 1.0852})
    assert v.errors == []
    tick = TickData(symbol="BTC/USDT", timestamp=NOW_S, bid=60000.5, ask=60001.0, volume=0)
    assert tick.timestamp_ms == NOW_S * 1000
    assert v.validate_tick(tick)


def test_every_tick_error_is_returned() -> None:
    v = DataValidator()
    bad = {
        "symbol": "eur usd",
        "timestamp": 5,
        "bid": 1.2,
        "ask": 1.1,
        "volume": -3,
        "source": 7,
    }
    assert not v.validate_tick(bad)
    fields = [e.split(":")[0] for e in v.errors]
    assert fields == ["symbol", "timestamp", "bid/ask", "volume", "source"]
    assert "bid 1.2 must be <= ask 1.1" in v.errors[2]


def test_missing_and_wrong_types() -> None:
    v = DataValidator()
    errors = v.check_tick({"bid": "1.0", "ask": 0, "timestamp": "now"})
    assert errors == [
        "symbol: required",
        "timestamp: expected int, got str 'now'",
        "bid: expected a number, got str '1.0'",
        "ask: must be a finite number > 0, got 0",
    ]
    assert v.check_tick("nope") == ["tick: expected a mapping or TickData, got str"]


def test_future_and_inconsistent_timestamps() -> None:
    v = DataValidator()
    ms_as_s = {"symbol": "EURUSD", "timestamp": NOW_S * 1000, "bid": 1.0, "ask": 1.0}
    assert any("future" in e for e in v.check_tick(ms_as_s))
    both = {"symbol": "EURUSD", "timestamp": NOW_S, "timestamp_ms": NOW_S * 1000 + 5000,
            "bid": 1.0, "ask": 1.0}  # fmt: skip
    assert v.check_tick(both) == [f"timestamp: {NOW_S} s disagrees with timestamp_ms {both['timestamp_ms']}"]


def test_ensure_tick_raises_with_all_errors() -> None:
    with pytest.raises(ValidationError) as info:
        DataValidator().ensure_tick({"symbol": "X", "bid": -1, "ask": -2})
    assert len(info.value.errors) == 4
    assert "invalid tick" in str(info.value)


def test_candle_and_event_checks() -> None:
    v = DataValidator()
    ok = CandleData(symbol="EURUSD", timeframe="1h", timestamp=NOW_S - 3600,
                    open=1.0, high=1.2, low=0.9, close=1.1, volume=10)  # fmt: skip
    assert v.validate_candle(ok), v.errors
    bad = {"symbol": "EURUSD", "timeframe": "1 hour", "timestamp": NOW_S,
           "open": 1.3, "high": 1.0, "low": 1.1, "close": 1.05, "num_trades": -1}  # fmt: skip
    errors = v.check_candle(bad)
    assert [e.split(":")[0] for e in errors] == ["timeframe", "high/low", "open", "close", "num_trades"]
    event = EconomicEvent(event_name="Non-Farm Payrolls", country="US", currency="USD",
                          timestamp=NOW_S + 7 * 86400, impact="high", forecast=180.0)  # fmt: skip
    assert v.validate_event(event), v.errors
    assert [e.split(":")[0] for e in v.check_event({"country": "usa", "impact": "huge"})] == [
        "event_name", "country", "currency", "timestamp", "impact",
    ]  # fmt: skip

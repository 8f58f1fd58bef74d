"""TimezoneHandler and sessions at known instants across DST changes; forex-aware gap finding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from centralhub.market import GapFillVerifier, TickData, TimezoneHandler, is_forex_open, parse_timeframe


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


H = TimezoneHandler()


def test_conversions_follow_dst() -> None:
    # New York: EST (UTC-5) until 2024-03-10 02:00 local, EDT (UTC-4) after.
    assert H.convert(utc(2024, 3, 10, 6, 59), "NY").strftime("%H:%M %Z") == "01:59 EST"
    assert H.convert(utc(2024, 3, 10, 7, 0), "NY").strftime("%H:%M %Z") == "03:00 EDT"
    # London: BST starts 2024-03-31 01:00 UTC; between the US and UK changes the gap is 4 h.
    assert H.convert(utc(2024, 3, 20, 12), "London").hour == 12
    assert H.convert(utc(2024, 3, 20, 12), "New_York").hour == 8
    assert H.convert(utc(2024, 4, 2, 12), "London").hour == 13
    # Tokyo has no DST.
    assert H.convert(utc(2024, 7, 1, 0), "Tokyo").hour == 9
    assert not H.is_dst(utc(2024, 7, 1), "Tokyo") and H.is_dst(utc(2024, 7, 1), "London")
    # Naive wall-clock time in New York → UTC.
    assert H.to_utc(datetime(2024, 11, 4, 9, 30), "NY") == utc(2024, 11, 4, 14, 30)
    assert H.from_timestamp(1_700_000_000_000, "Tokyo", ms=True).isoformat() == ("2023-11-15T07:13:20+09:00")


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="needs from_tz"):
        H.convert(datetime(2024, 1, 1), "UTC")
    with pytest.raises(ValueError, match="unknown time zone 'Mars'"):
        H.zone("Mars")
    with pytest.raises(ValueError, match="naive"):
        H.get_market_session(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2024, 1, 15, 3, 0), "asian"),
        (utc(2024, 1, 15, 8, 30), "asian_european_overlap"),
        (utc(2024, 1, 15, 12, 30), "european"),  # 07:30 in New York (EST): US not yet open
        (utc(2024, 7, 15, 12, 30), "european_us_overlap"),  # 08:30 EDT: US open in summer
        (utc(2024, 1, 15, 13, 30), "european_us_overlap"),
        (utc(2024, 1, 15, 19, 0), "us"),
        (utc(2024, 1, 15, 23, 0), "off_hours"),
        (utc(2024, 1, 13, 12, 0), "closed"),  # Saturday
    ],
)
def test_market_session(instant: datetime, expected: str) -> None:
    assert H.get_market_session(instant).name == expected
    # The same instant as Unix milliseconds, as a tick carries it.
    session = H.get_market_session(int(instant.timestamp() * 1000))
    assert session.name == expected and session.instant == instant


def test_market_session_takes_every_form_a_tick_carries() -> None:
    ms = 1_705_287_600_000
    tick = TickData(symbol="EURUSD", timestamp_ms=ms, bid=1.08, ask=1.0802)
    expected = H.get_market_session(ms)
    assert H.get_market_session(tick.timestamp) == expected  # Unix seconds
    assert H.get_market_session(tick) == expected  # the tick itself
    with pytest.raises(ValueError, match="before 2000-01-01 in Unix seconds and in milliseconds"):
        H.get_market_session(86_400)


def test_market_session_refuses_what_is_not_an_instant() -> None:
    for wrong in (True, 1.7e12, "2024-01-15"):
        with pytest.raises(TypeError, match="expected an aware datetime, Unix seconds or milliseconds"):
            H.get_market_session(wrong)


def test_forex_week_follows_new_york_17h() -> None:
    # Winter: closes Friday 22:00 UTC; summer: 21:00 UTC.
    assert is_forex_open(utc(2024, 1, 12, 21, 59)) and not is_forex_open(utc(2024, 1, 12, 22, 0))
    assert is_forex_open(utc(2024, 7, 12, 20, 59)) and not is_forex_open(utc(2024, 7, 12, 21, 0))
    assert not is_forex_open(utc(2024, 1, 14, 21, 59)) and is_forex_open(utc(2024, 1, 14, 22, 0))


def test_weekend_is_not_a_gap() -> None:
    v = GapFillVerifier(market="forex")
    start, end = utc(2024, 1, 12, 0), utc(2024, 1, 16, 0)  # Friday → Tuesday
    slots = v.expected_slots("1h", start, end)
    assert utc(2024, 1, 13, 12) not in slots and utc(2024, 1, 14, 22) in slots
    report = v.find_gaps("EURUSD", "1h", slots, start, end)
    assert report.gaps == () and report.completeness_pct == 100.0
    assert "no gaps" in report.to_text()


def test_real_gap_found_with_start_end_duration() -> None:
    v = GapFillVerifier(market="forex", critical_after=timedelta(hours=2))
    start, end = utc(2024, 1, 12, 0), utc(2024, 1, 16, 0)
    missing = {utc(2024, 1, 15, 3, 0) + timedelta(minutes=15 * i) for i in range(6)}
    present = [s for s in v.expected_slots("15m", start, end) if s not in missing]
    report = v.find_gaps("EURUSD", "15m", present, start, end)
    [gap] = report.gaps
    assert (gap.start, gap.end) == (utc(2024, 1, 15, 3, 0), utc(2024, 1, 15, 4, 30))
    assert gap.duration == timedelta(minutes=90) and gap.missing_candles == 6
    assert not gap.critical
    text = report.to_text()
    assert "2024-01-15 03:00 UTC → 2024-01-15 04:30 UTC  1h 30m  (6 candles)" in text


def test_gaps_either_side_of_the_weekend_stay_separate() -> None:
    v = GapFillVerifier(market="forex")
    report = v.find_gaps("EURUSD", "1h", [], utc(2024, 1, 12, 20), utc(2024, 1, 14, 23))
    assert [(g.start, g.end) for g in report.gaps] == [
        (utc(2024, 1, 12, 20), utc(2024, 1, 12, 22)),
        (utc(2024, 1, 14, 22), utc(2024, 1, 14, 23)),
    ]
    assert all(g.critical for g in report.gaps) and report.has_critical_gaps


def test_timeframes() -> None:
    assert parse_timeframe("15m") == parse_timeframe("M15") == timedelta(minutes=15)
    assert parse_timeframe("H4") == timedelta(hours=4)
    with pytest.raises(ValueError, match="'90s'"):
        parse_timeframe("90s")

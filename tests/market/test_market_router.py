"""DataRouter round trip on the real PostgreSQL and Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis

from centralhub.market import CandleData, DataRouter, GapFillVerifier, TickData, ValidationError
from centralhub.market.models import ms_to_datetime

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(60)]
NOW_MS = int(time.time() * 1000) // 1000 * 1000


@pytest.fixture
async def router(db_schema: str, redis_client: aioredis.Redis) -> AsyncIterator[DataRouter]:
    r = DataRouter(f"postgresql+asyncpg://{PG_URL.split('://', 1)[1]}", REDIS_URL, db_schema=db_schema)
    await r.initialize()
    yield r
    await r.close()
    keys = [k async for k in redis_client.scan_iter(match=f"market:{db_schema}.*")]
    if keys:
        await redis_client.delete(*keys)


def _tick(symbol: str, offset_s: int, bid: float = 1.085) -> TickData:
    return TickData(symbol=symbol, timestamp_ms=NOW_MS - offset_s * 1000, bid=bid, ask=bid + 0.0002,
                    volume=1.5, source="test")  # fmt: skip


async def test_batch_round_trip_latest_from_cache_range_from_db(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, redis_client: aioredis.Redis
) -> None:
    ticks = [_tick("EURUSD", s, 1.08 + s / 1e4) for s in range(60, 0, -1)]
    ticks += [_tick("USDJPY", s, 150.0 + s / 100) for s in range(30, 0, -1)]
    assert await router.save_ticks(ticks) == 90
    assert await pg.fetchval(f"SELECT count(*) FROM {db_schema}.market_ticks") == 90

    latest = await router.get_latest_tick("EURUSD")
    assert latest == ticks[59]  # the newest EURUSD tick, equal field by field
    stats = await router.cache.get_stats()
    assert stats["l1_hits"] >= 1
    # Written through to Redis (L2), so another instance sees it without the database.
    assert await redis_client.exists(f"market:{db_schema}.market_ticks:latest_tick:EURUSD") == 1

    start, end = ms_to_datetime(NOW_MS - 20_000), ms_to_datetime(NOW_MS)
    window = await router.get_ticks("EURUSD", start, end)
    assert [t.timestamp_ms for t in window] == list(range(NOW_MS - 20_000, NOW_MS, 1000))
    assert window[0] == ticks[40]

    # An older tick arriving late is stored but does not replace the cached latest.
    await router.save_tick(_tick("EURUSD", 3600))
    assert (await router.get_latest_tick("EURUSD")) == ticks[59]


async def test_bad_tick_in_batch_writes_nothing(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str
) -> None:
    good = [_tick("GBPUSD", s) for s in range(5)]
    bad = TickData(symbol="GBPUSD", timestamp_ms=NOW_MS, bid=1.3, ask=1.2)
    with pytest.raises(ValidationError) as info:
        await router.save_ticks([*good, bad, TickData(symbol="x", timestamp=1, bid=0, ask=1)])
    assert info.value.errors[0] == "ticks[5].bid/ask: bid 1.3 must be <= ask 1.2"
    assert {e.split(":")[0] for e in info.value.errors[1:]} == {
        "ticks[6].symbol", "ticks[6].timestamp", "ticks[6].bid",
    }  # fmt: skip
    assert await pg.fetchval(f"SELECT count(*) FROM {db_schema}.market_ticks") == 0
    assert await router.get_latest_tick("GBPUSD") is None


async def test_latest_tick_falls_back_to_db_when_cache_is_cold(router: DataRouter, db_schema: str) -> None:
    await router.save_ticks([_tick("XAUUSD", s, 2000.0 + s) for s in (3, 2, 1)])
    cold = DataRouter(PG_URL, None, db_schema=db_schema, auto_migrate=False)  # L1-only cache
    async with cold:
        latest = await cold.get_latest_tick("XAUUSD")
        assert latest is not None and latest.bid == 2001.0
        assert await cold.get_latest_tick("NOPE") is None


async def test_candles_and_gap_verification_from_db(router: DataRouter) -> None:
    hour = 3_600_000
    base = (NOW_MS // hour - 48) * hour
    candles = [
        CandleData(symbol="EURUSD", timeframe="1h", timestamp_ms=base + i * hour,
                   open=1.1, high=1.2, low=1.0, close=1.15, volume=100, num_trades=7)
        for i in range(24) if i not in (5, 6)
    ]  # fmt: skip
    assert await router.save_candles(candles) == 22
    start, end = ms_to_datetime(base), ms_to_datetime(base + 24 * hour)
    stored = await router.get_candles("EURUSD", "1h", start, end)
    assert stored == candles
    report = await GapFillVerifier(router, market="24x7").verify("EURUSD", "1h", start, end)
    [gap] = report.gaps
    assert (gap.start, gap.end) == (ms_to_datetime(base + 5 * hour), ms_to_datetime(base + 7 * hour))
    assert gap.duration == timedelta(hours=2) and gap.missing_candles == 2


async def test_reads_take_unix_milliseconds(router: DataRouter) -> None:
    ticks = [_tick("EURUSD", s) for s in range(10, 0, -1)]
    await router.save_ticks(ticks)
    start_ms, end_ms = ticks[2].timestamp_ms, ticks[7].timestamp_ms
    by_ms = await router.get_ticks("EURUSD", start_ms, end_ms)
    assert by_ms == ticks[2:7]
    assert by_ms == await router.get_ticks("EURUSD", ms_to_datetime(start_ms), ms_to_datetime(end_ms))
    assert await router.get_ticks("EURUSD", start_ms, ms_to_datetime(end_ms), limit=2) == ticks[2:4]
    hour = 3_600_000
    candle = CandleData(symbol="EURUSD", timeframe="1h", timestamp_ms=NOW_MS // hour * hour - hour,
                        open=1.1, high=1.2, low=1.0, close=1.15)  # fmt: skip
    await router.save_candle(candle)
    assert await router.get_candles("EURUSD", "1h", candle.timestamp_ms, NOW_MS) == [candle]
    # the forms a tick carries: Unix seconds, or the tick itself
    assert await router.get_ticks("EURUSD", ticks[2].timestamp, ticks[7]) == ticks[2:7]
    with pytest.raises(ValueError, match="start: .* before 2000-01-01 in Unix seconds and in milliseconds"):
        await router.get_ticks("EURUSD", 1000, end_ms)
    with pytest.raises(ValueError, match="must be after start"):
        await router.get_ticks("EURUSD", end_ms, start_ms)
    with pytest.raises(TypeError, match="end: expected an aware datetime, Unix seconds or milliseconds"):
        await router.get_ticks("EURUSD", start_ms, float(end_ms))  # type: ignore[arg-type]


async def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        DataRouter("mysql://localhost/db")
    r = DataRouter(PG_URL)
    with pytest.raises(Exception, match="not initialised"):
        await r.get_latest_tick("EURUSD")
    await r.close()

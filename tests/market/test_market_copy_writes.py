"""Batch writes by COPY on the real PostgreSQL: stored, last write wins, all-or-nothing, concurrent.

Each behaviour is checked on both ways a batch can take: new keys (one COPY into the table) and
keys already stored (COPY into a staging table, then merged with ON CONFLICT DO UPDATE).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from centralhub.market import (
    CandleData,
    DatabaseConnectionError,
    DataRouter,
    QueryExecutionError,
    TickData,
    ValidationError,
)
from centralhub.market.models import ms_to_datetime

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]
NOW_MS = int(time.time() * 1000) // 1000 * 1000
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY")


@pytest.fixture
async def router(db_schema: str) -> AsyncIterator[DataRouter]:
    # No cache URL: an in-process cache, so these tests need PostgreSQL alone.
    r = DataRouter(PG_URL, None, db_schema=db_schema, pool_max_size=8, query_timeout=20)
    await r.initialize()
    yield r
    await r.close()


def _ticks(n: int, bid: float = 1.1, *, start_ms: int = NOW_MS - 3_600_000) -> list[TickData]:
    return [
        TickData(symbol=SYMBOLS[i % 3], timestamp_ms=start_ms + i, bid=bid, ask=bid + 0.0002,
                 volume=float(i), source="test")
        for i in range(n)
    ]  # fmt: skip


async def _rows(pg: asyncpg.Connection, db_schema: str) -> dict[tuple[int, str], float]:
    rows = await pg.fetch(f"SELECT timestamp, symbol, bid FROM {db_schema}.market_ticks")
    return {(int(r["timestamp"].timestamp() * 1000), r["symbol"]): r["bid"] for r in rows}


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_batch_stored_field_by_field(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    ticks = _ticks(300)
    # Values the inline check leaves to the validator: int prices, no volume, a non-ASCII exchange.
    ticks.append(TickData(symbol="XAUUSD", timestamp=NOW_MS // 1000 - 10, bid=2000, ask=2001,
                          exchange="Börse Frankfurt", event_type="trade"))  # fmt: skip
    if stored_first:
        await router.save_ticks(_ticks(300, bid=9.0))
    assert await router.save_ticks(ticks) == 301
    start, end = ms_to_datetime(NOW_MS - 7_200_000), ms_to_datetime(NOW_MS)
    for symbol in (*SYMBOLS, "XAUUSD"):
        assert await router.get_ticks(symbol, start, end) == [t for t in ticks if t.symbol == symbol]
    assert await pg.fetchval(f"SELECT count(*) FROM {db_schema}.market_ticks") == 301


async def test_a_table_with_other_column_types_is_written_through_the_merge(
    pg: asyncpg.Connection, db_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    # An older layout with DECIMAL prices, which binary COPY rows of doubles cannot fill.
    await pg.execute(f"""
        CREATE SCHEMA {db_schema};
        CREATE TABLE {db_schema}.market_ticks (
            timestamp TIMESTAMPTZ NOT NULL, symbol VARCHAR(20) NOT NULL, bid DECIMAL(18, 5) NOT NULL,
            ask DECIMAL(18, 5) NOT NULL, volume DECIMAL(18, 5), source VARCHAR(50) NOT NULL,
            exchange VARCHAR(50), event_type VARCHAR(20) NOT NULL, PRIMARY KEY (timestamp, symbol))
    """)
    async with DataRouter(PG_URL, None, db_schema=db_schema, auto_migrate=False) as r:
        assert await r.save_ticks(_ticks(100, bid=1.123456)) == 100
        assert await r.save_ticks(_ticks(50, bid=1.2)) == 50
    rows = await pg.fetch(
        f"SELECT bid, count(*) AS n FROM {db_schema}.market_ticks GROUP BY bid ORDER BY bid"
    )
    assert [(str(row["bid"]), row["n"]) for row in rows] == [("1.12346", 50), ("1.20000", 50)]
    assert "bid numeric" in caplog.text and "staging table" in caplog.text


async def test_mixed_case_schema_and_table_names(pg: asyncpg.Connection, db_schema: str) -> None:
    # Unquoted in the DDL, so stored lower-case; the COPY must find them all the same.
    async with DataRouter(PG_URL, None, db_schema=db_schema.upper(), ticks_table="Ticks_EU") as r:
        assert await r.save_ticks(_ticks(10)) == 10
        assert await r.save_ticks(_ticks(10, bid=1.2)) == 10  # and merge into them
    rows = await pg.fetch(f"SELECT DISTINCT bid FROM {db_schema}.ticks_eu")
    assert [row["bid"] for row in rows] == [1.2]


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_repeated_key_in_a_batch_keeps_the_last_write(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    if stored_first:
        await router.save_ticks(_ticks(10, bid=9.0))
    first, second, third = _ticks(10, bid=1.1), _ticks(10, bid=1.2), _ticks(5, bid=1.3)
    assert await router.save_ticks([*first, *second, *third]) == 10
    stored = await _rows(pg, db_schema)
    assert sorted(stored.values()) == [1.2] * 5 + [1.3] * 5
    assert stored[(first[0].timestamp_ms, first[0].symbol)] == 1.3
    assert stored[(first[9].timestamp_ms, first[9].symbol)] == 1.2
    # The cached latest tick is the last write of the newest key, too.
    latest = await router.get_latest_tick(first[9].symbol)
    assert latest is not None and latest.bid == 1.2


async def test_a_change_in_any_one_column_is_stored(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str
) -> None:
    # Unchanged rows are skipped by the merge; NULL to a value and back must still count.
    ticks = _ticks(3)
    await router.save_ticks(ticks)
    for exchange in ("LMAX", None):
        for t in ticks:
            t.exchange = exchange
        await router.save_ticks(ticks)
        rows = await pg.fetch(f"SELECT DISTINCT exchange FROM {db_schema}.market_ticks")
        assert [r["exchange"] for r in rows] == [exchange]
    ticks[1].volume = None
    await router.save_ticks(ticks)
    start, end = ms_to_datetime(NOW_MS - 7_200_000), ms_to_datetime(NOW_MS)
    assert await router.get_ticks(ticks[1].symbol, start, end) == [ticks[1]]


async def test_out_of_order_batch_is_stored_and_caches_the_newest(router: DataRouter) -> None:
    ticks = _ticks(200)
    shuffled = ticks[:]
    random.Random(7).shuffle(shuffled)
    assert await router.save_ticks(shuffled) == 200
    for symbol in SYMBOLS:
        newest = max((t for t in ticks if t.symbol == symbol), key=lambda t: t.timestamp_ms)
        assert await router.get_latest_tick(symbol) == newest
    start, end = ms_to_datetime(NOW_MS - 7_200_000), ms_to_datetime(NOW_MS)
    assert await router.get_ticks("USDJPY", start, end) == [t for t in ticks if t.symbol == "USDJPY"]


async def test_replayed_batches_then_new_ones_are_all_stored(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str
) -> None:
    # A replay switches writes to the merge way for a while; new keys must still land.
    old = _ticks(100, bid=1.1)
    await router.save_ticks(old)
    for _ in range(3):
        await router.save_ticks(_ticks(100, bid=1.2))
    fresh = _ticks(50, bid=1.5, start_ms=NOW_MS - 60_000)
    assert await router.save_ticks(fresh) == 50
    stored = await _rows(pg, db_schema)
    assert len(stored) == 150
    assert sorted(set(stored.values())) == [1.2, 1.5]


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_bad_tick_writes_nothing(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    if stored_first:
        await router.save_ticks(_ticks(20, bid=9.0))
    before = await _rows(pg, db_schema)
    batch = _ticks(20, bid=1.1) + _ticks(5, bid=1.1, start_ms=NOW_MS - 60_000)
    batch[17] = TickData(symbol="EURUSD", timestamp_ms=NOW_MS, bid=float("nan"), ask=1.2)
    with pytest.raises(ValidationError) as info:
        await router.save_ticks(batch)
    assert info.value.errors == ["ticks[17].bid: must be a finite number > 0, got nan"]
    assert await _rows(pg, db_schema) == before


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_database_error_on_the_last_row_writes_nothing(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    if stored_first:
        await router.save_ticks(_ticks(500, bid=9.0))
    before = await _rows(pg, db_schema)
    # Valid for the validator, refused by the table: the last row breaks a CHECK constraint.
    await pg.execute(f"ALTER TABLE {db_schema}.market_ticks ADD CONSTRAINT small_volume CHECK (volume < 1e6)")
    batch = _ticks(1000, bid=1.1)
    batch[-1].volume = 5e6
    with pytest.raises(QueryExecutionError, match="small_volume"):
        await router.save_ticks(batch)
    assert await _rows(pg, db_schema) == before
    batch[-1].volume = 1.0
    assert await router.save_ticks(batch) == 1000


async def test_text_that_is_not_unicode_is_refused_whole(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str
) -> None:
    batch = _ticks(10)
    batch[-1].source = "feed\udc80"  # a lone surrogate: no UTF-8 for it
    with pytest.raises(QueryExecutionError, match="UTF8"):
        await router.save_ticks(batch)
    assert await _rows(pg, db_schema) == {}


async def _halt_on(pg: asyncpg.Connection, db_schema: str) -> None:
    # The row for symbol HALT sleeps in a trigger, so a batch is caught half-way through.
    await pg.execute(f"""
        CREATE FUNCTION {db_schema}.halt() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.symbol = 'HALT' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;
        CREATE TRIGGER halt BEFORE INSERT ON {db_schema}.market_ticks
        FOR EACH ROW EXECUTE FUNCTION {db_schema}.halt();
    """)


async def _halted_backend(pg: asyncpg.Connection, db_schema: str) -> int:
    async with asyncio.timeout(15):
        while True:
            pid = await pg.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE $1",
                f"%{db_schema}%",
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.05)


def _halting_batch() -> list[TickData]:
    batch = _ticks(1000, bid=1.1)
    batch[600] = TickData(symbol="HALT", timestamp_ms=NOW_MS - 1000, bid=1.0, ask=1.1)
    return batch


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_connection_killed_mid_batch_writes_nothing(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    if stored_first:
        await router.save_ticks(_ticks(500, bid=9.0))
    before = await _rows(pg, db_schema)
    await _halt_on(pg, db_schema)
    write = asyncio.create_task(router.save_ticks(_halting_batch()))
    pid = await _halted_backend(pg, db_schema)
    assert await _rows(pg, db_schema) == before  # nothing visible while the batch is in flight
    assert await pg.fetchval("SELECT pg_terminate_backend($1)", pid)
    with pytest.raises(DatabaseConnectionError):
        await asyncio.wait_for(write, 15)
    assert await _rows(pg, db_schema) == before
    # The pool replaces the dead connection: the next batch is stored.
    await pg.execute(f"DROP TRIGGER halt ON {db_schema}.market_ticks")
    assert await router.save_ticks(_ticks(10, bid=1.4, start_ms=NOW_MS - 60_000)) == 10


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_cancelled_mid_batch_writes_nothing(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    # A service shutting down cancels its writes: the batch must vanish, the pool stay usable.
    if stored_first:
        await router.save_ticks(_ticks(500, bid=9.0))
    before = await _rows(pg, db_schema)
    await _halt_on(pg, db_schema)
    write = asyncio.create_task(router.save_ticks(_halting_batch()))
    pid = await _halted_backend(pg, db_schema)
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(write, 15)
    busy = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'"
    async with asyncio.timeout(15):  # the server abandons the statement, not just the client
        while await pg.fetchval(busy, pid):
            await asyncio.sleep(0.05)
    assert await _rows(pg, db_schema) == before
    await pg.execute(f"DROP TRIGGER halt ON {db_schema}.market_ticks")
    assert await router.save_ticks(_ticks(10, bid=1.4, start_ms=NOW_MS - 60_000)) == 10


async def test_concurrent_batches_over_the_same_keys_all_succeed(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str
) -> None:
    # One router per writer, as separate services would have: each tries its own COPY first,
    # and whoever loses a key to another writer merges.
    others = [DataRouter(PG_URL, None, db_schema=db_schema, auto_migrate=False) for _ in range(5)]

    async def writer(n: int, r: DataRouter) -> int:
        ticks = _ticks(3000, bid=1.0 + n / 100)
        random.Random(n).shuffle(ticks)
        total = 0
        for i in range(0, 3000, 1000):
            total += await r.save_ticks(ticks[i : i + 1000])
        return total

    try:
        for other in others:
            await other.initialize()
        writers = (writer(n, r) for n, r in enumerate([router, *others]))
        # A deadlock would surface as an error after deadlock_timeout (1 s), failing the gather.
        results = await asyncio.wait_for(asyncio.gather(*writers), 45)
    finally:
        for other in others:
            await other.close()
    assert results == [3000] * 6
    rows = await pg.fetch(f"SELECT bid, ask FROM {db_schema}.market_ticks")
    assert len(rows) == 3000
    # Every row is one writer's whole row, never a mix of two.
    assert all(r["bid"] in {1.0 + n / 100 for n in range(6)} for r in rows)
    assert all(abs(r["ask"] - r["bid"] - 0.0002) < 1e-9 for r in rows)


@pytest.mark.parametrize("stored_first", [False, True], ids=["new-keys", "keys-stored"])
async def test_candles_last_write_wins_and_all_or_nothing(
    router: DataRouter, pg: asyncpg.Connection, db_schema: str, stored_first: bool
) -> None:
    hour = 3_600_000
    base = (NOW_MS // hour - 48) * hour

    def candles(close: float) -> list[CandleData]:
        return [
            CandleData(symbol="EURUSD", timeframe=tf, timestamp_ms=base + i * hour, open=1.1,
                       high=1.3, low=1.0, close=close, num_trades=i)
            for i in range(24) for tf in ("1h", "H1")
        ]  # fmt: skip

    if stored_first:
        await router.save_candles(candles(1.15))
    assert await router.save_candles([*candles(1.2), *candles(1.25)]) == 48
    closes = await pg.fetch(f"SELECT DISTINCT close FROM {db_schema}.market_candles")
    assert [r["close"] for r in closes] == [1.25]
    start, end = ms_to_datetime(base), ms_to_datetime(base + 24 * hour)
    assert await router.get_candles("EURUSD", "H1", start, end) == [
        c for c in candles(1.25) if c.timeframe == "H1"
    ]
    await pg.execute(f"ALTER TABLE {db_schema}.market_candles ADD CONSTRAINT low_close CHECK (close < 1.28)")
    batch = candles(1.26)
    batch[-1].close = 1.29  # valid for the validator (within high/low), refused by the table
    with pytest.raises(QueryExecutionError, match="low_close"):
        await router.save_candles(batch)
    closes = await pg.fetch(f"SELECT DISTINCT close FROM {db_schema}.market_candles")
    assert [r["close"] for r in closes] == [1.25]

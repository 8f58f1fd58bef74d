"""Tick/candle write and latest-tick read throughput of DataRouter, beside references from the same run.

Writes: ``DataRouter.save_ticks`` (validation, binary COPY rows encoded from TickData, COPY,
cache write-through) vs a raw asyncpg ``copy_records_to_table`` of the same rows, as tuples built
beforehand, into an identical table (same columns, primary key and index). The two take turns
batch by batch so they share the machine's background load. Then the same keys with new prices
(every key is stored, so save_ticks merges: COPY into a staging table + ``INSERT ... ON CONFLICT
DO UPDATE``), then those ticks once more unchanged (a replay), each against COPY into an empty
table. Candles: ``save_candles`` vs COPY in the same way.
Reads: ``DataRouter.get_latest_tick`` (L1 hit, and L2 hit with a cold L1) vs a raw Redis ``GET``.

    .venv/bin/python bench/ticks.py [--ticks 50000] [--batch 5000] [--candles 20000] [--reads 20000]
                                    [--rounds 3]

Each write round and the reads use a throw-away PostgreSQL schema and Redis namespace, dropped
afterwards; ratios are the median over rounds (``--rounds``, default 3).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis

from centralhub.kit.cache import L1Cache
from centralhub.market import CandleData, DataRouter, TickData
from centralhub.market.models import ms_to_datetime

PG_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/0")
GOAL_RATIO = 0.7  # save_ticks of new keys against COPY of the same rows
SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "AUDUSD", "USDCHF", "USDCAD", "NZDUSD"]


def make_ticks(n: int) -> list[TickData]:
    base = (int(time.time()) - 86_400) * 1000
    return [
        TickData(symbol=SYMBOLS[i % len(SYMBOLS)], timestamp_ms=base + i, bid=1.0 + (i % 97) / 1e4,
                 ask=1.0002 + (i % 97) / 1e4, volume=float(i % 10), source="bench")
        for i in range(n)
    ]  # fmt: skip


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def rows_rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>14,.0f}"


def make_candles(n: int) -> list[CandleData]:
    base = (int(time.time()) // 60 - n) * 60_000
    return [
        CandleData(symbol=SYMBOLS[i % len(SYMBOLS)], timeframe="1m",
                   timestamp_ms=base + (i // len(SYMBOLS)) * 60_000, open=1.1, high=1.2, low=1.0,
                   close=1.15, volume=float(i % 50), num_trades=i % 90,
                   source="bench")
        for i in range(n)
    ]  # fmt: skip


async def copy_table(conn: Any, schema: str, name: str, like: str) -> None:
    await conn.execute(f"CREATE TABLE {schema}.{name} (LIKE {schema}.{like} "
                       "INCLUDING DEFAULTS INCLUDING INDEXES)")  # fmt: skip


async def turns(
    save: Any, items: list[Any], copy: Any, records: list[Any], batch: int
) -> tuple[float, float]:
    """Seconds spent in ``save`` and in ``copy``, taking turns batch by batch."""
    save_s = copy_s = 0.0
    for i in range(0, len(items), batch):
        started = time.perf_counter()
        await save(items[i : i + batch])
        save_s += time.perf_counter() - started
        started = time.perf_counter()
        await copy(records[i : i + batch])
        copy_s += time.perf_counter() - started
    return save_s, copy_s


TICK_COLS = ["timestamp", "symbol", "bid", "ask", "volume", "source", "exchange", "event_type"]
CANDLE_COLS = ["timestamp", "symbol", "timeframe", "open", "high", "low", "close", "volume", "vwap",
               "num_trades", "source"]  # fmt: skip
# scenario → its reference table; a line per scenario in the report.
SCENARIOS = {
    "save_ticks, new keys": "copy_ref",
    "save_ticks, stored keys, new prices": "copy_ref_again",
    "save_ticks, unchanged replay": "copy_ref_replay",
    "save_candles, new keys": "candles_ref",
}


async def write_round(n_ticks: int, n_candles: int, batch: int) -> dict[str, tuple[float, float]]:
    """``{scenario: (save seconds, COPY seconds)}`` for one round, in a schema of its own.

    Each round starts from empty tables on both sides: the merges leave dead row versions
    (and wake autovacuum) in the router's tables only, which would tilt a later round.
    """
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    router = DataRouter(PG_URL, REDIS_URL, db_schema=schema)
    await router.initialize()
    pool = router.pools.get_pool()
    try:
        async with pool.acquire() as conn:
            # Reference tables: same columns, same primary key and index, filled by COPY.
            for table in SCENARIOS.values():
                like = "market_candles" if table.startswith("candles") else "market_ticks"
                await copy_table(conn, schema, table, like)
            result = await _write_scenarios(router, conn, schema, n_ticks, n_candles, batch)
            stored = await conn.fetchval(f"SELECT count(*) FROM {schema}.market_ticks")
            stored_candles = await conn.fetchval(f"SELECT count(*) FROM {schema}.market_candles")
        assert stored == n_ticks, stored
        assert stored_candles == n_candles, stored_candles
        return result
    finally:
        async with pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await drop_cached(router, schema)
        await router.close()


async def drop_cached(router: DataRouter, schema: str) -> None:
    redis = router.cache.redis_client
    keys = [k async for k in redis.scan_iter(match=f"market:{schema}.*")]
    if keys:
        await redis.delete(*keys)


async def _write_scenarios(
    router: DataRouter, conn: Any, schema: str, n_ticks: int, n_candles: int, batch: int
) -> dict[str, tuple[float, float]]:
    def copy_into(table: str, columns: list[str]) -> Any:
        async def copy(records: list[Any]) -> None:
            await conn.copy_records_to_table(table, schema_name=schema, records=records, columns=columns)

        return copy

    ticks = make_ticks(n_ticks)
    records = [(ms_to_datetime(t.timestamp_ms), t.symbol, t.bid, t.ask, t.volume, t.source,
                t.exchange, t.event_type) for t in ticks]  # fmt: skip
    # The same keys with new prices: every key is stored, so save_ticks merges.
    moved = [replace(t, bid=t.bid + 0.5, ask=t.ask + 0.5) for t in ticks]
    moved_records = [(r[0], r[1], r[2] + 0.5, r[3] + 0.5, *r[4:]) for r in records]
    candles = make_candles(n_candles)
    candle_records = [(ms_to_datetime(c.timestamp_ms), c.symbol, c.timeframe, c.open, c.high, c.low,
                       c.close, c.volume, c.vwap, c.num_trades, c.source) for c in candles]  # fmt: skip
    names = list(SCENARIOS)
    return {
        names[0]: await turns(router.save_ticks, ticks, copy_into("copy_ref", TICK_COLS), records, batch),
        names[1]: await turns(
            router.save_ticks, moved, copy_into("copy_ref_again", TICK_COLS), moved_records, batch
        ),
        # The same ticks once more, unchanged, as a feed replays them after a reconnect.
        names[2]: await turns(
            router.save_ticks, moved, copy_into("copy_ref_replay", TICK_COLS), moved_records, batch
        ),
        names[3]: await turns(
            router.save_candles, candles, copy_into("candles_ref", CANDLE_COLS), candle_records, batch
        ),
    }


async def main(n_ticks: int, batch: int, n_candles: int, n_reads: int, rounds: int) -> None:
    results = [await write_round(n_ticks, n_candles, batch) for _ in range(rounds)]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    router = DataRouter(PG_URL, REDIS_URL, db_schema=schema)
    await router.initialize()
    redis = aioredis.from_url(REDIS_URL)
    try:
        await router.save_ticks(make_ticks(1000))  # a latest tick per symbol to read back

        started = time.perf_counter()
        for i in range(n_reads):
            await router.get_latest_tick(SYMBOLS[i % len(SYMBOLS)])
        l1_s = time.perf_counter() - started

        router.cache.l1_cache = L1Cache(max_size=1, ttl=0.001)  # force every read to L2
        l2_reads = n_reads // 4
        started = time.perf_counter()
        for i in range(l2_reads):
            await router.get_latest_tick(SYMBOLS[i % len(SYMBOLS)])
        l2_s = time.perf_counter() - started

        key = f"market:{schema}.market_ticks:latest_tick:EURUSD"
        started = time.perf_counter()
        for _ in range(l2_reads):
            await redis.get(key)
        raw_get_s = time.perf_counter() - started

        print(f"load average {os.getloadavg()[0]:.2f}; per round ticks={n_ticks} candles={n_candles} "
              f"batch={batch}; rounds={rounds} reads={n_reads}")  # fmt: skip
        print(f"PostgreSQL {PG_URL}, Redis {REDIS_URL}")
        print(f"{'':44}{'rows/s':>14}{'COPY rows/s':>14}   ratio: median, then per round")
        for label in SCENARIOS:
            n = n_candles if "candles" in label else n_ticks
            save_s = sum(r[label][0] for r in results)
            copy_s = sum(r[label][1] for r in results)
            ratios = [r[label][1] / r[label][0] for r in results]
            median = statistics.median(ratios)
            goal = ""
            if label == "save_ticks, new keys":
                goal = f"   goal >= {GOAL_RATIO}: {'met' if median >= GOAL_RATIO else 'MISS'}"
            print(f"write  {label:<37}{rows_rate(n * rounds, save_s)}{rows_rate(n * rounds, copy_s)}   "
                  f"{median:.2f}  ({' '.join(f'{x:.2f}' for x in ratios)}){goal}")  # fmt: skip
        print(f"read   get_latest_tick (L1 hit)            {rate(n_reads, l1_s)}")
        print(f"read   get_latest_tick (L2 hit)            {rate(l2_reads, l2_s)}")
        print(f"read   reference raw Redis GET             {rate(l2_reads, raw_get_s)}")
        print(f"       ratio L2-hit read / GET             {raw_get_s / l2_s:>12.2f}")
    finally:
        async with router.pools.get_pool().acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await drop_cached(router, schema)
        await redis.aclose()
        await router.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--candles", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="write rounds; ratios are their median")
    args = parser.parse_args()
    run = main(args.ticks, args.batch, args.candles, args.reads, args.rounds)
    asyncio.run(asyncio.wait_for(run, timeout=60 + 60 * args.rounds))

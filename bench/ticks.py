"""Tick write and latest-tick read throughput of DataRouter, beside references from the same run.

Writes: ``DataRouter.save_ticks`` (validation + batched unnest upsert + cache write-through)
vs a raw asyncpg ``COPY`` of the same rows into an identical table.
Reads: ``DataRouter.get_latest_tick`` (L1 hit, and L2 hit with a cold L1) vs a raw Redis ``GET``.

    .venv/bin/python bench/ticks.py [--ticks 50000] [--batch 5000] [--reads 20000]

Uses a throw-away PostgreSQL schema and Redis namespace, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import redis.asyncio as aioredis

from centralhub.kit.cache import L1Cache
from centralhub.market import DataRouter, TickData
from centralhub.market.models import ms_to_datetime

PG_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/0")
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


async def main(n_ticks: int, batch: int, n_reads: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    ticks = make_ticks(n_ticks)
    router = DataRouter(PG_URL, REDIS_URL, db_schema=schema, batch_chunk_size=batch)
    await router.initialize()
    redis = aioredis.from_url(REDIS_URL)
    try:
        # Reference table: same columns, same primary key, filled by COPY.
        pool = router.pools.get_pool()
        async with pool.acquire() as conn:
            await conn.execute(f"CREATE TABLE {schema}.copy_ref (LIKE {schema}.market_ticks "
                               "INCLUDING DEFAULTS INCLUDING INDEXES)")  # fmt: skip
        records = [(ms_to_datetime(t.timestamp_ms), t.symbol, t.bid, t.ask, t.volume, t.source,
                    t.exchange, t.event_type) for t in ticks]  # fmt: skip

        started = time.perf_counter()
        for i in range(0, n_ticks, batch):
            await router.save_ticks(ticks[i : i + batch])
        router_s = time.perf_counter() - started

        started = time.perf_counter()
        async with pool.acquire() as conn:
            for i in range(0, n_ticks, batch):
                await conn.copy_records_to_table(
                    "copy_ref", schema_name=schema, records=records[i : i + batch],
                    columns=["timestamp", "symbol", "bid", "ask", "volume", "source",
                             "exchange", "event_type"],
                )  # fmt: skip
        copy_s = time.perf_counter() - started
        async with pool.acquire() as conn:
            stored = await conn.fetchval(f"SELECT count(*) FROM {schema}.market_ticks")
        assert stored == n_ticks, stored

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

        print(f"ticks={n_ticks} batch={batch} reads={n_reads} (PostgreSQL {PG_URL}, Redis {REDIS_URL})")
        print(f"write  DataRouter.save_ticks      {rate(n_ticks, router_s)}")
        print(f"write  reference asyncpg COPY     {rate(n_ticks, copy_s)}")
        print(f"       ratio save_ticks / COPY    {copy_s / router_s:>12.2f}")
        print(f"read   get_latest_tick (L1 hit)   {rate(n_reads, l1_s)}")
        print(f"read   get_latest_tick (L2 hit)   {rate(l2_reads, l2_s)}")
        print(f"read   reference raw Redis GET    {rate(l2_reads, raw_get_s)}")
        print(f"       ratio L2-hit read / GET    {raw_get_s / l2_s:>12.2f}")
    finally:
        async with router.pools.get_pool().acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        keys = [k async for k in redis.scan_iter(match=f"market:{schema}.*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await router.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--reads", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(args.ticks, args.batch, args.reads), timeout=55))

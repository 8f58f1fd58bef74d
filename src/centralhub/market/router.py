"""DataRouter: validated tick/candle writes to PostgreSQL, latest tick written through to the cache.

Writes validate first and reject the whole call with every error (``ValidationError.errors``),
so a batch with one bad tick writes nothing. A valid batch is stored with PostgreSQL COPY by
:class:`CopyUpsert`: straight into the table when its keys are new, else through a staging
table merged with ``ON CONFLICT DO UPDATE``; either way all-or-nothing. A repeated
``(timestamp, symbol)`` keeps the last write. After the database commit, the newest tick per
symbol is written to the :class:`MultiLevelCache`; cache trouble never fails a write.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from centralhub.kit.cache import MultiLevelCache
from centralhub.market.batch_rows import candle_rows, tick_rows
from centralhub.market.copy_binary import CANDLE_COLUMNS, TICK_COLUMNS
from centralhub.market.copy_upsert import CopyUpsert
from centralhub.market.exceptions import (
    DatabaseConnectionError,
    QueryExecutionError,
    QueryTimeoutError,
    ValidationError,
)
from centralhub.market.instants import Instant, to_datetime
from centralhub.market.migrator import SchemaMigrator
from centralhub.market.models import CandleData, TickData, datetime_to_ms
from centralhub.market.pools import DatabasePoolManager, normalize_pg_url
from centralhub.market.schemas import MARKET_CANDLES_SCHEMA, MARKET_TICKS_SCHEMA, qualified_name
from centralhub.market.validation import DataValidator

__all__ = ["DataRouter"]

_TICK_COLS = ("timestamp", "symbol", "bid", "ask", "volume", "source", "exchange", "event_type")
_CANDLE_COLS = (
    "timestamp", "symbol", "timeframe", "open", "high", "low", "close",
    "volume", "vwap", "num_trades", "source",
)  # fmt: skip
# Column types of the staging table a merge goes through (both tables' columns).
_STAGE_TYPES = {
    "timestamp": "timestamptz", "symbol": "text", "timeframe": "text", "bid": "float8",
    "ask": "float8", "open": "float8", "high": "float8", "low": "float8", "close": "float8",
    "volume": "float8", "vwap": "float8", "num_trades": "int4", "source": "text",
    "exchange": "text", "event_type": "text",
}  # fmt: skip


class DataRouter:
    """Market data access: ``await initialize()``, save/read ticks and candles, ``await close()``.

    ``database_url`` defaults to ``$DATABASE_URL`` and ``cache_url`` to ``$CACHE_URL`` (no cache
    URL → an in-process L1-only cache). Tables are created by :class:`SchemaMigrator` unless
    ``auto_migrate=False``. ``batch_chunk_size`` is accepted and ignored: COPY streams a batch
    of any size in one statement, so batches are no longer cut into chunks.
    """

    def __init__(
        self,
        database_url: str | None = None,
        cache_url: str | None = None,
        *,
        db_schema: str = "public",
        ticks_table: str = "market_ticks",
        candles_table: str = "market_candles",
        cache: MultiLevelCache | None = None,
        cache_namespace: str | None = None,
        latest_tick_ttl: float = 3600,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        query_timeout: float = 30.0,
        batch_chunk_size: int = 10_000,
        auto_migrate: bool = True,
    ) -> None:
        url = database_url or os.environ.get("DATABASE_URL")
        if not url:
            raise ValueError("DataRouter needs database_url= or the DATABASE_URL env variable")
        self.database_url = normalize_pg_url(url)
        self.cache_url = cache_url or os.environ.get("CACHE_URL")
        self.db_schema = db_schema
        self.ticks_table = ticks_table
        self.candles_table = candles_table
        self._ticks = qualified_name(ticks_table, db_schema)
        self._candles = qualified_name(candles_table, db_schema)
        self.latest_tick_ttl = latest_tick_ttl
        self.query_timeout = query_timeout
        self.batch_chunk_size = batch_chunk_size
        self.auto_migrate = auto_migrate
        self.validator = DataValidator()
        self.pools = DatabasePoolManager.from_url(
            self.database_url, min_size=pool_min_size, max_size=pool_max_size
        )
        self._own_cache = cache is None
        self.cache = cache or MultiLevelCache(
            redis_url=self.cache_url,
            namespace=cache_namespace or f"market:{db_schema}.{ticks_table}",
            l2_ttl=latest_tick_ttl,
        )
        self._tick_writer = CopyUpsert(
            db_schema=db_schema, table=ticks_table, columns=TICK_COLUMNS, types=_STAGE_TYPES,
            key=("timestamp", "symbol"),
        )  # fmt: skip
        self._candle_writer = CopyUpsert(
            db_schema=db_schema, table=candles_table, columns=CANDLE_COLUMNS, types=_STAGE_TYPES,
            key=("timestamp", "symbol", "timeframe"),
        )  # fmt: skip
        self._initialized = False

    # -- lifecycle ----------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the pool and (unless disabled) create/upgrade the tables."""
        if self._initialized:
            return
        await self.pools.initialize()
        if self.auto_migrate:
            migrator = SchemaMigrator(
                self.pools.get_pool(),
                db_schema=self.db_schema,
                table_names={
                    MARKET_TICKS_SCHEMA["name"]: self.ticks_table,
                    MARKET_CANDLES_SCHEMA["name"]: self.candles_table,
                },
            )
            await migrator.initialize_all_schemas([MARKET_TICKS_SCHEMA, MARKET_CANDLES_SCHEMA])
        self._initialized = True

    async def close(self) -> None:
        await self.pools.close()
        if self._own_cache:
            await self.cache.close()
        self._initialized = False

    async def __aenter__(self) -> DataRouter:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def health_check(self) -> dict[str, Any]:
        return {"database": await self.pools.health_check(), "cache": await self.cache.get_stats()}

    # -- writes -------------------------------------------------------------------------------
    async def save_tick(self, tick: TickData) -> None:
        """Validate, store and cache one tick; raises ValidationError listing every problem."""
        await self.save_ticks([tick])

    async def save_ticks(self, ticks: Iterable[TickData]) -> int:
        """Store a batch atomically (one bad tick → nothing written); returns rows written."""
        ticks = ticks if isinstance(ticks, list | tuple) else list(ticks)
        batch = tick_rows(
            ticks, self.validator.check_tick, max_future_skew_ms=self.validator.max_future_skew_ms
        )
        if batch.errors:
            raise ValidationError(batch.errors, "tick batch" if len(ticks) > 1 else "tick")
        if not batch.rows:
            return 0
        await self._write(self._tick_writer, batch.rows)
        await self._cache_latest(batch.newest)
        return len(batch.rows)

    async def save_candle(self, candle: CandleData) -> None:
        await self.save_candles([candle])

    async def save_candles(self, candles: Iterable[CandleData]) -> int:
        """Store candles atomically (one bad candle → nothing written); returns rows written."""
        candles = candles if isinstance(candles, list | tuple) else list(candles)
        batch = candle_rows(
            candles, self.validator.check_candle, max_future_skew_ms=self.validator.max_future_skew_ms
        )
        if batch.errors:
            raise ValidationError(batch.errors, "candle batch" if len(candles) > 1 else "candle")
        if not batch.rows:
            return 0
        await self._write(self._candle_writer, batch.rows)
        return len(batch.rows)

    async def _write(self, writer: CopyUpsert, rows: list[bytes]) -> None:
        async with self._connection() as conn:
            await self._run(writer.write, conn, rows)

    async def _cache_latest(self, newest: dict[str, TickData]) -> None:
        # One symbol's read-compare-write does not depend on another's: run them side by side,
        # so a batch of many symbols costs about one cache round trip, not one per symbol.
        if len(newest) == 1:
            await self._cache_if_newer(*next(iter(newest.items())))
        else:
            await asyncio.gather(*(self._cache_if_newer(s, t) for s, t in newest.items()))

    async def _cache_if_newer(self, symbol: str, tick: TickData) -> None:
        cached = await self.cache.get(self._latest_key(symbol))
        # Out-of-order arrivals must not replace a newer cached tick.
        if cached is None or tick.timestamp_ms >= cached.get("timestamp_ms", 0):
            await self.cache.set(self._latest_key(symbol), tick.to_dict(), l2_ttl=self.latest_tick_ttl)

    @staticmethod
    def _latest_key(symbol: str) -> str:
        return f"latest_tick:{symbol}"

    # -- reads --------------------------------------------------------------------------------
    async def get_latest_tick(self, symbol: str) -> TickData | None:
        """Newest tick for ``symbol``: from the cache, falling back to (and refilling from) the DB."""
        if cached := await self.cache.get(self._latest_key(symbol)):
            return TickData.from_dict(cached)
        async with self._connection() as conn:
            row = await self._run(
                conn.fetchrow,
                f"SELECT {', '.join(_TICK_COLS)} FROM {self._ticks} "
                "WHERE symbol = $1 ORDER BY timestamp DESC LIMIT 1",
                symbol,
            )
        if row is None:
            return None
        tick = _row_to_tick(row)
        await self.cache.set(self._latest_key(symbol), tick.to_dict(), l2_ttl=self.latest_tick_ttl)
        return tick

    async def get_ticks(
        self, symbol: str, start: Instant, end: Instant, *, limit: int | None = None
    ) -> list[TickData]:
        """Ticks with ``start <= timestamp < end`` in time order, from the database.

        ``start``/``end``: aware datetimes or Unix milliseconds (``TickData.timestamp_ms``).
        """
        start, end = _range(start, end)
        async with self._connection() as conn:
            rows = await self._run(
                conn.fetch,
                f"SELECT {', '.join(_TICK_COLS)} FROM {self._ticks} WHERE symbol = $1 "
                "AND timestamp >= $2 AND timestamp < $3 ORDER BY timestamp LIMIT $4",
                symbol,
                start,
                end,
                limit,
            )
        return [_row_to_tick(r) for r in rows]

    async def get_candles(
        self, symbol: str, timeframe: str, start: Instant, end: Instant
    ) -> list[CandleData]:
        """Candles with open time in ``[start, end)`` in time order, from the database.

        ``start``/``end``: aware datetimes or Unix milliseconds.
        """
        start, end = _range(start, end)
        async with self._connection() as conn:
            rows = await self._run(
                conn.fetch,
                f"SELECT {', '.join(_CANDLE_COLS)} FROM {self._candles} WHERE symbol = $1 "
                "AND timeframe = $2 AND timestamp >= $3 AND timestamp < $4 ORDER BY timestamp",
                symbol,
                timeframe,
                start,
                end,
            )
        return [_row_to_candle(r) for r in rows]

    # -- plumbing -----------------------------------------------------------------------------
    def _connection(self) -> Any:
        if not self._initialized:
            raise DatabaseConnectionError("DataRouter is not initialised; await initialize()")
        return self.pools.get_pool().acquire(timeout=self.query_timeout)

    async def _run(self, method: Any, *args: Any) -> Any:
        try:
            return await method(*args, timeout=self.query_timeout)
        except TimeoutError as exc:
            raise QueryTimeoutError(f"query exceeded {self.query_timeout}s") from exc
        except (
            asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError, asyncpg.InterfaceError, OSError
        ) as exc:  # fmt: skip
            # The server ended the session (shutdown, pg_terminate_backend) or the socket died;
            # each call holds its own pooled connection, so an InterfaceError means a dead one.
            raise DatabaseConnectionError(f"database connection failed: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise QueryExecutionError(f"query failed: {exc}") from exc


def _range(start: Instant, end: Instant) -> tuple[datetime, datetime]:
    start_at, end_at = to_datetime(start, "start"), to_datetime(end, "end")
    if end_at <= start_at:
        raise ValueError(f"end {end_at.isoformat()} must be after start {start_at.isoformat()}")
    return start_at, end_at


def _row_to_tick(row: Any) -> TickData:
    return TickData(
        symbol=row["symbol"], timestamp_ms=datetime_to_ms(row["timestamp"]), bid=row["bid"],
        ask=row["ask"], volume=row["volume"], source=row["source"], exchange=row["exchange"],
        event_type=row["event_type"],
    )  # fmt: skip


def _row_to_candle(row: Any) -> CandleData:
    return CandleData(
        symbol=row["symbol"], timeframe=row["timeframe"],
        timestamp_ms=datetime_to_ms(row["timestamp"]), open=row["open"], high=row["high"],
        low=row["low"], close=row["close"], volume=row["volume"], vwap=row["vwap"],
        num_trades=row["num_trades"], source=row["source"],
    )  # fmt: skip

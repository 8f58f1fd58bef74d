"""Table schemas as Python dicts (the platform's shape) and the SQL generated from them.

A PostgreSQL schema dict has ``name``, ``version``, ``columns`` (name → SQL type), optional
``primary_key``, ``indexes`` (``name``, ``columns``, ``method``, optional ``unique``) and
``hypertable`` (``time_column``, ``chunk_interval``). A ClickHouse dict has ``name``,
``version``, ``columns``, ``engine``, ``order_by`` and optional ``partition_by``/``ttl``.

Unlike the platform's older generator, the index statement is emitted in valid PostgreSQL order
(``USING method`` before the column list), and ``create_hypertable`` is only emitted when asked
(the migrator asks only when the ``timescaledb`` extension is installed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CLICKHOUSE_CANDLES_SCHEMA",
    "CLICKHOUSE_TICKS_SCHEMA",
    "ECONOMIC_EVENTS_SCHEMA",
    "MARKET_CANDLES_SCHEMA",
    "MARKET_TICKS_SCHEMA",
    "generate_clickhouse_sql",
    "generate_create_table_sql",
    "generate_full_schema_sql",
    "generate_hypertable_sql",
    "generate_index_sql",
    "get_clickhouse_schemas",
    "get_timescale_schemas",
    "qualified_name",
]

MARKET_TICKS_SCHEMA: dict[str, Any] = {
    "name": "market_ticks",
    "description": "Real-time market tick data",
    "version": "1.0",
    "hypertable": {"time_column": "timestamp", "chunk_interval": "1 day"},
    # DOUBLE PRECISION (not DECIMAL(18, 5)): floats round-trip exactly and crypto
    # prices below 1e-5 are not truncated.
    "columns": {
        "timestamp": "TIMESTAMPTZ NOT NULL",
        "symbol": "VARCHAR(20) NOT NULL",
        "bid": "DOUBLE PRECISION NOT NULL",
        "ask": "DOUBLE PRECISION NOT NULL",
        "volume": "DOUBLE PRECISION",
        "source": "VARCHAR(50) NOT NULL DEFAULT 'unknown'",
        "exchange": "VARCHAR(50)",
        "event_type": "VARCHAR(20) NOT NULL DEFAULT 'quote'",
    },
    "primary_key": ["timestamp", "symbol"],
    "indexes": [{"name": "idx_symbol_time", "columns": ["symbol", "timestamp DESC"], "method": "BTREE"}],
}

MARKET_CANDLES_SCHEMA: dict[str, Any] = {
    "name": "market_candles",
    "description": "OHLCV candles per symbol and timeframe",
    "version": "1.0",
    "hypertable": {"time_column": "timestamp", "chunk_interval": "7 days"},
    "columns": {
        "timestamp": "TIMESTAMPTZ NOT NULL",
        "symbol": "VARCHAR(20) NOT NULL",
        "timeframe": "VARCHAR(10) NOT NULL",
        "open": "DOUBLE PRECISION NOT NULL",
        "high": "DOUBLE PRECISION NOT NULL",
        "low": "DOUBLE PRECISION NOT NULL",
        "close": "DOUBLE PRECISION NOT NULL",
        "volume": "DOUBLE PRECISION",
        "vwap": "DOUBLE PRECISION",
        "num_trades": "INTEGER",
        "source": "VARCHAR(50) NOT NULL DEFAULT 'unknown'",
    },
    "primary_key": ["timestamp", "symbol", "timeframe"],
    "indexes": [
        {
            "name": "idx_candles_symbol_tf_time",
            "columns": ["symbol", "timeframe", "timestamp DESC"],
            "method": "BTREE",
        }
    ],
}

ECONOMIC_EVENTS_SCHEMA: dict[str, Any] = {
    "name": "economic_events",
    "description": "Scheduled macro releases",
    "version": "1.0",
    "columns": {
        "timestamp": "TIMESTAMPTZ NOT NULL",
        "event_name": "VARCHAR(200) NOT NULL",
        "country": "VARCHAR(3) NOT NULL",
        "currency": "VARCHAR(3) NOT NULL",
        "impact": "VARCHAR(10) NOT NULL DEFAULT 'low'",
        "actual": "DOUBLE PRECISION",
        "forecast": "DOUBLE PRECISION",
        "previous": "DOUBLE PRECISION",
        "source": "VARCHAR(50) NOT NULL DEFAULT 'unknown'",
    },
    "primary_key": ["timestamp", "event_name", "country"],
    "indexes": [{"name": "idx_events_currency_time", "columns": ["currency", "timestamp DESC"]}],
}

CLICKHOUSE_TICKS_SCHEMA: dict[str, Any] = {
    "name": "market_ticks",
    "description": "Tick archive for analytics",
    "version": "1.0",
    "columns": {
        "timestamp": "DateTime64(3, 'UTC')",
        "symbol": "LowCardinality(String)",
        "bid": "Float64",
        "ask": "Float64",
        "volume": "Nullable(Float64)",
        "source": "LowCardinality(String)",
    },
    "engine": "MergeTree",
    "partition_by": "toYYYYMM(timestamp)",
    "order_by": ["symbol", "timestamp"],
}

CLICKHOUSE_CANDLES_SCHEMA: dict[str, Any] = {
    "name": "market_candles",
    "description": "Candle archive for analytics",
    "version": "1.0",
    "columns": {
        "timestamp": "DateTime64(3, 'UTC')",
        "symbol": "LowCardinality(String)",
        "timeframe": "LowCardinality(String)",
        "open": "Float64",
        "high": "Float64",
        "low": "Float64",
        "close": "Float64",
        "volume": "Nullable(Float64)",
        "num_trades": "Nullable(UInt32)",
    },
    "engine": "ReplacingMergeTree",
    "partition_by": "toYYYYMM(timestamp)",
    "order_by": ["symbol", "timeframe", "timestamp"],
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_INDEX_COLUMN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\s+(ASC|DESC))?$", re.IGNORECASE)
_INTERVAL = re.compile(r"^\d+\s+(second|minute|hour|day|week|month)s?$", re.IGNORECASE)
_INDEX_METHODS = {"BTREE", "HASH", "BRIN", "GIN", "GIST", "SPGIST"}


def _ident(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ValueError(f"{what}: {value!r} is not a valid SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def _require(schema: Mapping[str, Any], *keys: str) -> None:
    if not isinstance(schema, Mapping):
        raise TypeError(f"schema must be a dict, got {type(schema).__name__}")
    missing = [k for k in keys if not schema.get(k)]
    if missing:
        raise ValueError(f"schema {schema.get('name', '?')!r} is missing {', '.join(missing)}")
    for col, sql_type in schema["columns"].items():
        _ident(col, f"schema {schema['name']!r} column")
        if not isinstance(sql_type, str) or not sql_type.strip() or ";" in sql_type:
            raise ValueError(f"schema {schema['name']!r} column {col!r}: bad type {sql_type!r}")


def qualified_name(table: str, db_schema: str | None = None) -> str:
    """``schema.table`` (validated identifiers) or just ``table``."""
    _ident(table, "table name")
    return f"{_ident(db_schema, 'database schema')}.{table}" if db_schema else table


def generate_create_table_sql(
    schema: Mapping[str, Any], *, table_name: str | None = None, db_schema: str | None = None
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a PostgreSQL schema dict."""
    _require(schema, "name", "columns")
    table = qualified_name(table_name or schema["name"], db_schema)
    lines = [f"    {col} {sql_type}" for col, sql_type in schema["columns"].items()]
    if pk := schema.get("primary_key"):
        for col in pk:
            if col not in schema["columns"]:
                raise ValueError(f"schema {schema['name']!r}: primary key column {col!r} unknown")
        lines.append(f"    PRIMARY KEY ({', '.join(pk)})")
    return f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(lines) + "\n);"


def generate_hypertable_sql(
    schema: Mapping[str, Any], *, table_name: str | None = None, db_schema: str | None = None
) -> str | None:
    """TimescaleDB ``create_hypertable`` call, or None when the schema has no ``hypertable``."""
    hyper = schema.get("hypertable")
    if not hyper:
        return None
    time_col = hyper.get("time_column")
    if time_col not in schema["columns"]:
        raise ValueError(f"schema {schema['name']!r}: hypertable time_column {time_col!r} unknown")
    interval = hyper.get("chunk_interval", "7 days")
    if not isinstance(interval, str) or not _INTERVAL.match(interval):
        raise ValueError(f"schema {schema['name']!r}: bad chunk_interval {interval!r}")
    table = qualified_name(table_name or schema["name"], db_schema)
    return (
        f"SELECT create_hypertable('{table}', '{time_col}', "
        f"chunk_time_interval => INTERVAL '{interval}', if_not_exists => TRUE);"
    )


def generate_index_sql(
    schema: Mapping[str, Any], *, table_name: str | None = None, db_schema: str | None = None
) -> list[str]:
    """One ``CREATE INDEX IF NOT EXISTS`` per index.

    When the table is renamed, index names get the table name as prefix, because PostgreSQL
    index names are unique per database schema.
    """
    table = table_name or schema["name"]
    statements = []
    for index in schema.get("indexes", []):
        name = _ident(index.get("name"), f"schema {schema['name']!r} index name")
        if table_name and table_name != schema["name"]:
            name = _ident(f"{table_name}_{name}"[:63], "index name")
        cols = index.get("columns") or []
        if not cols:
            raise ValueError(f"schema {schema['name']!r}: index {name!r} has no columns")
        for col in cols:
            m = _INDEX_COLUMN.match(col) if isinstance(col, str) else None
            if m is None or m.group(1) not in schema["columns"]:
                raise ValueError(f"schema {schema['name']!r}: index {name!r} bad column {col!r}")
        method = str(index.get("method", "BTREE")).upper()
        if method not in _INDEX_METHODS:
            raise ValueError(f"schema {schema['name']!r}: index {name!r} bad method {method!r}")
        unique = "UNIQUE " if index.get("unique") else ""
        statements.append(
            f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {qualified_name(table, db_schema)} "
            f"USING {method} ({', '.join(cols)});"
        )
    return statements


def generate_full_schema_sql(
    schema: Mapping[str, Any],
    *,
    table_name: str | None = None,
    db_schema: str | None = None,
    timescale: bool = True,
) -> str:
    """Table, then hypertable (if ``timescale`` and the schema asks for one), then indexes."""
    kw: dict[str, Any] = {"table_name": table_name, "db_schema": db_schema}
    parts = [generate_create_table_sql(schema, **kw)]
    if timescale and (hyper := generate_hypertable_sql(schema, **kw)):
        parts.append(hyper)
    parts.extend(generate_index_sql(schema, **kw))
    return "\n".join(parts)


def generate_clickhouse_sql(
    schema: Mapping[str, Any], *, table_name: str | None = None, database: str | None = None
) -> str:
    """``CREATE TABLE IF NOT EXISTS ... ENGINE = <MergeTree family>`` for a ClickHouse dict."""
    _require(schema, "name", "columns", "order_by")
    engine = schema.get("engine", "MergeTree")
    if not isinstance(engine, str) or not re.fullmatch(r"[A-Za-z]*MergeTree(\([^;]*\))?", engine):
        raise ValueError(f"schema {schema['name']!r}: engine must be a MergeTree family engine")
    if "(" not in engine:
        engine += "()"
    for col in schema["order_by"]:
        if col not in schema["columns"]:
            raise ValueError(f"schema {schema['name']!r}: order_by column {col!r} unknown")
    table = qualified_name(table_name or schema["name"], database)
    cols = ",\n".join(f"    {c} {t}" for c, t in schema["columns"].items())
    sql = f"CREATE TABLE IF NOT EXISTS {table} (\n{cols}\n) ENGINE = {engine}"
    if partition := schema.get("partition_by"):
        sql += f"\nPARTITION BY {partition}"
    sql += f"\nORDER BY ({', '.join(schema['order_by'])})"
    if ttl := schema.get("ttl"):
        sql += f"\nTTL {ttl}"
    return sql


def get_timescale_schemas() -> list[dict[str, Any]]:
    """Every PostgreSQL/TimescaleDB schema of the market data layer, in creation order."""
    return [MARKET_TICKS_SCHEMA, MARKET_CANDLES_SCHEMA, ECONOMIC_EVENTS_SCHEMA]


def get_clickhouse_schemas() -> list[dict[str, Any]]:
    return [CLICKHOUSE_TICKS_SCHEMA, CLICKHOUSE_CANDLES_SCHEMA]

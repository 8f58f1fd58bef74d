"""DDL generated from the schema dicts runs on real PostgreSQL (idempotently) and in chdb."""

from __future__ import annotations

import asyncpg
import pytest

from centralhub.market import (
    SchemaMigrator,
    generate_clickhouse_sql,
    generate_full_schema_sql,
    get_clickhouse_schemas,
)
from centralhub.market.schemas import MARKET_TICKS_SCHEMA


def test_generated_sql_matches_seed_shape() -> None:
    sql = generate_full_schema_sql(MARKET_TICKS_SCHEMA)
    assert sql.startswith("CREATE TABLE IF NOT EXISTS market_ticks (\n    timestamp TIMESTAMPTZ NOT NULL,")
    assert "    PRIMARY KEY (timestamp, symbol)\n);" in sql
    assert (
        "SELECT create_hypertable('market_ticks', 'timestamp', "
        "chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);"
    ) in sql
    assert sql.endswith(
        "CREATE INDEX IF NOT EXISTS idx_symbol_time ON market_ticks USING BTREE (symbol, timestamp DESC);"
    )
    assert "create_hypertable" not in generate_full_schema_sql(MARKET_TICKS_SCHEMA, timescale=False)


def test_bad_schema_is_named() -> None:
    with pytest.raises(ValueError, match="missing columns"):
        generate_full_schema_sql({"name": "t"})
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        generate_full_schema_sql({"name": "t; DROP", "columns": {"a": "INT"}})
    bad_index = {"name": "t", "columns": {"a": "INT"}, "indexes": [{"name": "i", "columns": ["b"]}]}
    with pytest.raises(ValueError, match="bad column 'b'"):
        generate_full_schema_sql(bad_index)


@pytest.mark.postgres
async def test_migrator_on_postgres_is_idempotent_and_records_versions(
    pg: asyncpg.Connection, db_schema: str
) -> None:
    migrator = SchemaMigrator(pg, db_schema=db_schema)
    first = await migrator.initialize_all_schemas()
    assert [(r.table, r.action) for r in first] == [
        ("market_ticks", "created"),
        ("market_candles", "created"),
        ("economic_events", "created"),
    ]
    # This server has no TimescaleDB: detected, so no create_hypertable was attempted.
    has_ts = await pg.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    assert migrator.timescale_available is bool(has_ts)
    second = await migrator.initialize_all_schemas()
    assert {r.action for r in second} == {"unchanged"}
    assert await migrator.applied_versions() == {
        "market_ticks": "1.0", "market_candles": "1.0", "economic_events": "1.0",
    }  # fmt: skip
    indexes = await pg.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = $1", db_schema)
    assert "idx_symbol_time" in {r["indexname"] for r in indexes}

    # A new version with an extra column upgrades in place and records the version.
    v2 = {**MARKET_TICKS_SCHEMA, "version": "1.1",
          "columns": {**MARKET_TICKS_SCHEMA["columns"], "spread": "DOUBLE PRECISION"}}  # fmt: skip
    [result] = await migrator.initialize_all_schemas([v2])
    assert (result.action, result.version) == ("upgraded", "1.1")
    cols = await pg.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = 'market_ticks'",
        db_schema,
    )
    assert "spread" in {r["column_name"] for r in cols}
    assert (await migrator.applied_versions())["market_ticks"] == "1.1"


def test_clickhouse_ddl_runs_in_chdb() -> None:
    from chdb import session

    sess = session.Session()
    try:
        sess.query("CREATE DATABASE IF NOT EXISTS market_test")
        for schema in get_clickhouse_schemas():
            ddl = generate_clickhouse_sql(schema, database="market_test")
            sess.query(ddl)
            sess.query(ddl)  # IF NOT EXISTS: idempotent
        sess.query(
            "INSERT INTO market_test.market_ticks VALUES "
            "('2024-01-15 10:00:00.123', 'EURUSD', 1.085, 1.0852, NULL, 'test')"
        )
        out = str(sess.query("SELECT symbol, bid FROM market_test.market_ticks", "CSV"))
        assert out.strip() == '"EURUSD",1.085'
        engine = str(sess.query(
            "SELECT engine FROM system.tables WHERE database = 'market_test' ORDER BY name", "CSV"
        ))  # fmt: skip
        assert engine.split() == ['"ReplacingMergeTree"', '"MergeTree"']
    finally:
        sess.query("DROP DATABASE IF EXISTS market_test")
        sess.close()

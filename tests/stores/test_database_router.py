"""The multi-store router against real stores: PostgreSQL (its own database), DragonflyDB's
protocol on the local Redis, ClickHouse embedded (chdb). Routing by data kind, a store that
cannot be reached, the health report, and schema migration that is idempotent per store."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from centralhub.sdk.database import (
    DatabaseHealthChecker,
    DatabaseRouter,
    SchemaMigrator,
    StoreUnavailable,
)
from tests.conftest import create_pg_database, drop_pg_database

pytestmark = pytest.mark.timeout(120)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_url() -> Any:
    url = create_pg_database("centralhub_stores")
    yield url
    drop_pg_database(url)


@pytest.fixture
async def router(pg_url: str, tmp_path: Path) -> AsyncIterator[DatabaseRouter]:
    r = DatabaseRouter(
        {
            "timescaledb": {"url": pg_url},
            "clickhouse": {"embedded": str(tmp_path / "chdb"), "database": "analytics"},
            "dragonflydb": {"host": "127.0.0.1", "port": 6379, "db": 0},
            "archive": {
                "kind": "postgresql",
                "host": "127.0.0.1",
                "port": closed_port(),
                "password": "s3cret",
            },
        },
        connect_timeout=5,
    )
    await r.initialize()
    try:
        yield r
    finally:
        await r.close()


async def test_data_goes_where_the_platform_keeps_it(router: DatabaseRouter) -> None:
    assert router.route("ticks").name == "timescaledb"
    assert router.route("candles").kind == "postgresql"
    assert router.route("analytics").name == "clickhouse"
    assert router.route("latest").name == "dragonflydb"
    with pytest.raises(StoreUnavailable, match="graph"):
        router.route("graph")
    with pytest.raises(KeyError, match="unknown kind of data 'gossip'"):
        router.route("gossip")

    # each backend does its store's work
    pg: Any = router.route("ticks")
    assert await pg.fetchval("SELECT 40 + 2") == 42
    key = f"latest:{uuid.uuid4().hex}"
    cache: Any = router.route("latest")
    await cache.set(key, b"1.0851", ttl=30)
    assert await cache.get(key) == b"1.0851"
    assert await cache.delete_pattern(key[:-4] + "*") == 1
    ch: Any = router.route("analytics")
    ddl = "CREATE TABLE IF NOT EXISTS analytics.hits (symbol String, n UInt32) ENGINE = Memory"
    await ch.command(ddl)
    assert await ch.insert("analytics.hits", [("EURUSD", 3), ("GBPUSD", 5)], ["symbol", "n"]) == 2
    rows = await ch.query("SELECT symbol, n FROM analytics.hits ORDER BY symbol")
    assert rows == [{"symbol": "EURUSD", "n": 3}, {"symbol": "GBPUSD", "n": 5}]


async def test_an_unreachable_store_is_reported_not_fatal(router: DatabaseRouter) -> None:
    assert "archive" in router.errors
    described = router.describe()
    assert described["archive"]["connected"] is False and "s3cret" not in str(described)
    report = await DatabaseHealthChecker(router, timeout=3).check_all()
    assert report["status"] == "degraded" and (report["healthy"], report["total"]) == (3, 4)
    assert report["stores"]["timescaledb"]["healthy"] and report["stores"]["timescaledb"]["version"]
    assert report["stores"]["clickhouse"]["embedded"] is True
    assert report["stores"]["archive"]["healthy"] is False and report["stores"]["archive"]["error"]
    with pytest.raises(StoreUnavailable, match="archive"):
        await router.initialize(required=["archive"])


async def test_python_schemas_are_created_once_per_store(router: DatabaseRouter) -> None:
    migrator = SchemaMigrator(router, use_python_schemas=True)
    first = await migrator.initialize_all_schemas()
    assert {i["action"] for i in first["timescaledb"]["applied"]} == {"created"}
    assert {i["name"] for i in first["timescaledb"]["applied"]} >= {"market_ticks", "market_candles"}
    assert {i["action"] for i in first["clickhouse"]["applied"]} == {"created"}
    assert first["dragonflydb"]["applied"] == []
    assert "skipped" in first["archive"]
    again = await migrator.initialize_all_schemas()
    for store in ("timescaledb", "clickhouse"):
        assert {i["action"] for i in again[store]["applied"]} == {"unchanged"}, again[store]
    pg: Any = router.get("timescaledb")
    ch: Any = router.get("clickhouse")
    tables = await pg.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    assert {"market_ticks", "market_candles"} <= {t["table_name"] for t in tables}
    ch_tables = await ch.query("SELECT name FROM system.tables WHERE database = 'analytics'")
    assert {"market_ticks", "market_candles"} <= {t["name"] for t in ch_tables}


async def test_schema_files_per_store_and_a_changed_file(router: DatabaseRouter, tmp_path: Path) -> None:
    base = tmp_path / "schemas"
    (base / "timescaledb").mkdir(parents=True)
    (base / "clickhouse").mkdir()
    sql = base / "timescaledb" / "010_positions.sql"
    sql.write_text(
        "-- open positions\nCREATE TABLE IF NOT EXISTS positions (id bigint PRIMARY KEY, symbol text);\n"
        "CREATE INDEX IF NOT EXISTS positions_symbol ON positions (symbol);\n"
    )
    (base / "clickhouse" / "fills.sql").write_text(
        "CREATE TABLE IF NOT EXISTS analytics.fills (symbol String, qty Float64) "
        "ENGINE = MergeTree ORDER BY symbol;"
    )
    migrator = SchemaMigrator(router, schema_base_path=base)
    first = await migrator.initialize_all_schemas()
    assert [i["name"] for i in first["timescaledb"]["applied"]] == ["010_positions#1", "010_positions#2"]
    assert first["clickhouse"]["applied"] == [{"name": "fills", "action": "created"}]
    again = await migrator.initialize_all_schemas()
    assert all(i["action"] == "unchanged" for s in ("timescaledb", "clickhouse") for i in again[s]["applied"])
    sql.write_text(sql.read_text().replace("symbol text)", "symbol text, qty numeric)"))
    changed = await migrator.initialize_all_schemas()
    assert changed["timescaledb"]["applied"][0] == {"name": "010_positions#1", "action": "upgraded"}
    bad = base / "timescaledb" / "020_broken.sql"
    bad.write_text("CREATE TABLE oops (;")
    broken = await migrator.initialize_all_schemas()
    assert "error" in broken["timescaledb"] and "clickhouse" in broken and "applied" in broken["clickhouse"]


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ValueError, match="unknown kind 'cassandra'"):
        DatabaseRouter({"cassandra": {"host": "x"}})
    with pytest.raises(ValueError, match="at least one store"):
        DatabaseRouter({})
    with pytest.raises(ValueError, match="SchemaMigrator needs"):
        SchemaMigrator(DatabaseRouter({"redis": {}}))

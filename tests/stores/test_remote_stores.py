"""The ArangoDB, Weaviate and MongoDB backends, and ClickHouse through clickhouse-connect, against
real servers. None of them can be installed on this machine (Debian's ClickHouse server is from
2018, far older than clickhouse-connect supports; the suite tests ClickHouse embedded, through
chdb), so each test runs when its server's URL is set (``ARANGODB_URL``, ``WEAVIATE_URL``,
``MONGODB_URL``, ``CLICKHOUSE_URL``) and is skipped otherwise, as the Kafka tests are."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from centralhub.sdk.database import DatabaseHealthChecker, DatabaseRouter, SchemaMigrator

pytestmark = pytest.mark.timeout(120)


def _url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        pytest.skip(f"{name} not set (no such server on this machine)")
    return url


async def _migrated_twice(router: DatabaseRouter, store: str) -> list[dict[str, Any]]:
    await router.initialize(required=True)
    health = await DatabaseHealthChecker(router).check_all()
    assert health["status"] == "healthy", health
    migrator = SchemaMigrator(router, use_python_schemas=True)
    first = (await migrator.initialize_all_schemas())[store]["applied"]
    again = (await migrator.initialize_all_schemas())[store]["applied"]
    assert first and {i["action"] for i in again} == {"unchanged"}, again
    return list(first)


async def test_arangodb() -> None:
    router = DatabaseRouter(
        {"arangodb": {"url": _url("ARANGODB_URL"), "database": f"t{uuid.uuid4().hex[:8]}"}}
    )
    try:
        await _migrated_twice(router, "arangodb")
        graph: Any = router.route("graph")
        await graph.insert("instruments", {"_key": "EURUSD", "symbol": "EURUSD"})
        assert await graph.aql("FOR i IN instruments RETURN i.symbol") == ["EURUSD"]
    finally:
        await router.close()


async def test_weaviate() -> None:
    router = DatabaseRouter({"weaviate": {"url": _url("WEAVIATE_URL")}})
    try:
        await _migrated_twice(router, "weaviate")
        assert router.route("vectors").kind == "weaviate"
    finally:
        await router.close()


async def test_mongodb() -> None:
    router = DatabaseRouter({"mongodb": {"url": _url("MONGODB_URL"), "database": f"t{uuid.uuid4().hex[:8]}"}})
    try:
        await _migrated_twice(router, "mongodb")
        docs: Any = router.route("documents")
        await docs.insert("economic_calendar", {"currency": "USD", "event": "NFP"})
        assert [d["event"] for d in await docs.find("economic_calendar", {"currency": "USD"})] == ["NFP"]
        await docs.client.drop_database(docs.db.name)
    finally:
        await router.close()


async def test_clickhouse_server() -> None:
    router = DatabaseRouter({"clickhouse": {"url": _url("CLICKHOUSE_URL")}})
    try:
        await _migrated_twice(router, "clickhouse")
        analytics: Any = router.route("analytics")
        assert analytics.kind == "clickhouse" and not analytics.embedded
        table = f"fills_{uuid.uuid4().hex[:8]}"
        await analytics.command(
            f"CREATE TABLE {table} (symbol String, qty Float64) ENGINE = MergeTree ORDER BY symbol"
        )
        try:
            assert await analytics.insert(table, [("EURUSD", 1.5), ("GBPUSD", 2.0)], ["symbol", "qty"]) == 2
            assert await analytics.query(f"SELECT symbol, qty FROM {table} ORDER BY symbol") == [
                {"symbol": "EURUSD", "qty": 1.5},
                {"symbol": "GBPUSD", "qty": 2.0},
            ]
        finally:
            await analytics.command(f"DROP TABLE {table}")
    finally:
        await router.close()

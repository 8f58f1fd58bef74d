"""``DatabaseManager`` and ``CacheManager`` on real stores: PostgreSQL (its own database),
ClickHouse embedded, Redis, and a private Memcached started for the test."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from centralhub.kit.cache_manager import CacheConfig, CacheManager
from centralhub.kit.database_manager import DatabaseConfig, DatabaseManager
from centralhub.kit.exceptions import ConnectionFailed
from tests.conftest import create_pg_database, drop_pg_database, free_port
from tests.ops._util import require_tool
from tests.support import wait_until

pytestmark = pytest.mark.timeout(120)


class Memcached:
    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-u", "root", "-m", "16"]
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("memcached did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def memcached() -> Iterator[Memcached]:
    """A memcached of this test alone, on a free port."""
    server = Memcached(require_tool("/usr/bin/memcached", "memcached"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[DatabaseManager]:
    url = create_pg_database("centralhub_manager")
    manager = DatabaseManager("ledger", max_connections=5)
    try:
        await manager.add_connection("postgres", "postgresql", DatabaseConfig(url=url))
        await manager.add_connection(
            "analytics",
            "clickhouse",
            DatabaseConfig(options={"embedded": str(tmp_path / "ch")}, database="a"),
        )
        yield manager
    finally:
        await manager.close()
        drop_pg_database(url)


async def test_queries_transactions_and_health(db: DatabaseManager) -> None:
    await db.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance numeric NOT NULL)")
    await db.execute("INSERT INTO accounts VALUES ($1, $2), ($3, $4)", 1, 100, 2, 50)
    rows = await db.execute("SELECT id, balance FROM accounts ORDER BY id")
    assert [(r["id"], int(r["balance"])) for r in rows] == [(1, 100), (2, 50)]

    # a transaction that fails leaves nothing half-written
    with pytest.raises(RuntimeError, match="refused"):
        async with db.transaction() as conn:
            await conn.execute("UPDATE accounts SET balance = balance - 70 WHERE id = 1")
            raise RuntimeError("transfer refused")
    assert (await db.fetch_one("SELECT balance FROM accounts WHERE id = 1")) == {"balance": 100}
    async with db.transaction() as conn:
        await conn.execute("UPDATE accounts SET balance = balance - 30 WHERE id = 1")
        await conn.execute("UPDATE accounts SET balance = balance + 30 WHERE id = 2")
    assert [int(r["balance"]) for r in await db.execute("SELECT balance FROM accounts ORDER BY id")] == [
        70,
        80,
    ]

    await db.execute("CREATE TABLE a.t (x UInt8) ENGINE = MergeTree ORDER BY x", connection="analytics")
    await db.execute("INSERT INTO a.t VALUES (7)", connection="analytics")
    assert await db.execute("SELECT x FROM a.t", connection="analytics") == [{"x": 7}]
    with pytest.raises(TypeError, match="no transactions"):
        async with db.transaction("analytics"):
            pass

    health = await db.health_check()
    assert health["status"] == "healthy" and set(health["stores"]) == {"postgres", "analytics"}
    assert health["queries"] >= 5
    with pytest.raises(Exception, match="syntax"):
        await db.execute("SELEC 1")
    assert (await db.health_check())["failures"] == 1


async def test_a_connection_that_cannot_be_made_is_named() -> None:
    manager = DatabaseManager("ledger")
    with pytest.raises(ConnectionFailed, match="ledger:archive"):
        await manager.add_connection(
            "archive",
            "postgresql",
            DatabaseConfig(port=free_port(), password="pw"),
            connect_retries=2,
            base_delay=0.01,
        )
    assert "archive" not in manager.router.stores
    await manager.close()


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
async def test_cache_levels_ttl_namespaces_patterns_and_stats(memcached: Memcached, serializer: str) -> None:
    service = f"svc{uuid.uuid4().hex[:6]}"
    cache = CacheManager(service, default_ttl=60, serializer=serializer)
    other = CacheManager(f"other{service}", default_ttl=60)
    try:
        await cache.add_backend("l1", CacheConfig(backend="memory", max_size=100))
        await cache.add_backend("redis", CacheConfig(backend="redis", port=6379))
        await cache.add_backend("memcached", CacheConfig(backend="memcached", port=memcached.port))
        await other.add_backend("redis", CacheConfig(backend="redis", port=6379))

        value = {"symbol": "EURUSD", "bid": 1.0851, "levels": [1, 2, 3]}
        assert await cache.set("tick:EURUSD", value)
        assert await cache.get("tick:EURUSD") == value
        assert await other.get("tick:EURUSD") is None  # another service's keys are apart
        # each level holds it: read one by one
        for name in ("l1", "redis", "memcached"):
            assert await cache.get("tick:EURUSD", backend=name) == value

        # a miss in front is filled from the level behind
        await cache.delete("tick:EURUSD", backend="l1")
        assert await cache.get("tick:EURUSD") == value
        assert cache.stats()["l1"]["misses"] >= 1 and await cache.get("tick:EURUSD", backend="l1") == value

        # TTL per key
        await cache.set("short", 1, ttl=1, namespace="quotes")
        assert await cache.get("short", namespace="quotes") == 1
        await wait_until(
            lambda: _gone(cache, "short", "quotes"), timeout=5, every=0.2, what="the one-second key expired"
        )

        # patterns within a namespace, and a whole namespace
        for sym in ("EURUSD", "GBPUSD", "USDJPY"):
            await cache.set(f"candle:{sym}", sym, namespace="md")
        await cache.set("keep", "yes", namespace="md")
        await cache.invalidate_pattern("candle:*USD", namespace="md")
        assert await cache.get("candle:EURUSD", namespace="md") is None
        assert await cache.get("candle:USDJPY", namespace="md", backend="l1") == "USDJPY"  # not matched
        assert await cache.get("candle:USDJPY", namespace="md", backend="redis") == "USDJPY"
        # memcached cannot list keys: it dropped the whole namespace
        assert await cache.get("candle:USDJPY", namespace="md", backend="memcached") is None
        assert await cache.get("keep", namespace="md", backend="l1") == "yes"
        await cache.flush("md")
        assert await cache.get("keep", namespace="md") is None

        stats = cache.stats()
        assert set(stats) == {"l1", "redis", "memcached"} and 0 < stats["redis"]["hit_rate"] <= 1
    finally:
        await cache.flush()
        await cache.close()
        await other.close()


async def _gone(cache: CacheManager, key: str, namespace: str) -> bool:
    return await cache.get(key, namespace=namespace) is None


async def test_a_cache_server_going_away_is_a_miss_not_an_error(memcached: Memcached) -> None:
    cache = CacheManager("resilient")
    await cache.add_backend("l1", CacheConfig(backend="memory"))
    await cache.add_backend("memcached", CacheConfig(backend="memcached", port=memcached.port))
    await cache.set("k", "v")
    memcached.stop()  # kill -9: the server is gone
    assert await cache.get("k", backend="memcached") is None
    assert await cache.get("k") == "v"  # the level in front still answers
    assert await cache.set("k2", "v2") is True  # taken by the memory level; memcached counted
    assert cache.stats()["memcached"]["errors"] >= 2
    await cache.close()


def test_bad_cache_settings_are_named() -> None:
    with pytest.raises(ValueError, match="serializer must be one of json, msgpack"):
        CacheManager("x", serializer="pickle")

"""MultiLevelCache against the real local Redis; plus the L1-only fallback when Redis is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from centralhub.core.time import ManualClock
from centralhub.kit.cache import L1Cache, L2Cache, MultiLevelCache

REDIS_URL = "redis://127.0.0.1:6379/0"
STATS_KEYS = {
    "l1_size",
    "l1_max_size",
    "l1_hits",
    "l1_hit_rate_pct",
    "l2_hits",
    "l2_hit_rate_pct",
    "total_misses",
    "overall_hit_rate_pct",
}

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    # Fails (never skips) when the server is unreachable.
    assert await asyncio.wait_for(client.ping(), 5)
    yield client
    await client.aclose()


@pytest.fixture
def namespace() -> str:
    return f"test_mlc_{uuid.uuid4().hex}"


@pytest.fixture
async def cleanup(redis_client: aioredis.Redis, namespace: str) -> AsyncIterator[None]:
    yield
    keys = [k async for k in redis_client.scan_iter(match=f"{namespace}:*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.mark.redis
@pytest.mark.usefixtures("cleanup")
async def test_set_get_delete_and_stats_shape(redis_client: aioredis.Redis, namespace: str) -> None:
    cache = MultiLevelCache(redis_client, l1_max_size=10, l1_ttl=60, namespace=namespace)
    value = {"symbol": "EURUSD", "bid": 1.085, "levels": [1, 2, 3]}
    await cache.set("tick", value)
    assert await cache.get("tick") == value  # L1 hit
    assert await redis_client.exists(f"{namespace}:tick") == 1
    assert await cache.get("absent") is None  # miss
    assert await cache.get("absent", default=0) == 0

    stats = cache.get_stats()  # a plain call, as the README writes it
    assert isinstance(stats, dict) and stats == await cache.get_stats()  # the older awaited form
    assert stats.keys() >= STATS_KEYS
    assert stats["l1_hits"] == 1 and stats["l2_hits"] == 0 and stats["total_misses"] == 2
    assert stats["l1_size"] == 1 and stats["l1_max_size"] == 10
    assert stats["l1_hit_rate_pct"] == pytest.approx(33.33)
    assert stats["overall_hit_rate_pct"] == pytest.approx(33.33)

    assert await cache.delete("tick") is True
    assert await cache.get("tick") is None
    assert await redis_client.exists(f"{namespace}:tick") == 0
    assert await cache.delete("tick") is False


@pytest.mark.redis
@pytest.mark.usefixtures("cleanup")
async def test_l2_hit_populates_l1_and_is_shared(redis_client: aioredis.Redis, namespace: str) -> None:
    writer = MultiLevelCache(redis_client, namespace=namespace)
    reader = MultiLevelCache(redis_client, namespace=namespace)
    await writer.set("k", [1, "two", None, 0])
    assert await reader.get("k") == [1, "two", None, 0]  # L2 hit
    assert await reader.get("k") == [1, "two", None, 0]  # now an L1 hit
    stats = await reader.get_stats()
    assert (stats["l1_hits"], stats["l2_hits"], stats["total_misses"]) == (1, 1, 0)
    assert stats["l2_hit_rate_pct"] == 50.0 and stats["overall_hit_rate_pct"] == 100.0


@pytest.mark.redis
@pytest.mark.usefixtures("cleanup")
async def test_falsy_values_are_hits(redis_client: aioredis.Redis, namespace: str) -> None:
    cache = MultiLevelCache(redis_client, namespace=namespace)
    for key, value in {"zero": 0, "empty": "", "false": False, "list": []}.items():
        await cache.set(key, value)
        assert await cache.get(key, default="MISS") == value
    assert (await cache.get_stats())["total_misses"] == 0


@pytest.mark.redis
@pytest.mark.usefixtures("cleanup")
async def test_namespaces_isolate_keys(redis_client: aioredis.Redis, namespace: str) -> None:
    a = MultiLevelCache(redis_client, namespace=namespace)
    b = MultiLevelCache(redis_client, namespace=f"{namespace}:other")
    await a.set("same", "from-a")
    assert await b.get("same") is None
    assert await redis_client.get(f"{namespace}:same") == b'"from-a"'
    await redis_client.delete(f"{namespace}:other:same")


@pytest.mark.redis
@pytest.mark.usefixtures("cleanup")
async def test_per_key_ttls(redis_client: aioredis.Redis, namespace: str) -> None:
    clock = ManualClock(start=0.0)
    cache = MultiLevelCache(redis_client, l1_cache=L1Cache(ttl=60, timer=clock), namespace=namespace)
    await cache.set("short", "v", l1_ttl=0.2, l2_ttl=30)
    pttl = await redis_client.pttl(f"{namespace}:short")
    assert 0 < pttl <= 30_000
    clock.advance(0.4)
    # L1 copy expired; the L2 copy is still there and refills L1.
    assert await cache.get("short") == "v"
    assert (await cache.get_stats())["l2_hits"] == 1


@pytest.mark.redis
@pytest.mark.usefixtures("cleanup")
async def test_advanced_init_and_redis_url(redis_client: aioredis.Redis, namespace: str) -> None:
    l1 = L1Cache(max_size=2, ttl=120)
    l2 = L2Cache(redis_client, namespace=namespace)
    cache = MultiLevelCache(redis_client, l1_cache=l1, l2_cache=l2)
    for i in range(3):
        await cache.set(f"k{i}", i)
    assert len(l1) == 2  # LRU bound
    assert await cache.get("k0") == 0  # evicted from L1, served by L2
    own = MultiLevelCache(redis_url=REDIS_URL, namespace=namespace)
    assert await own.get("k1") == 1
    await own.close()


async def test_redis_unreachable_still_serves_from_l1(caplog: pytest.LogCaptureFixture) -> None:
    cache = MultiLevelCache(redis_url="redis://127.0.0.1:1/0", l2_retry_after=60)
    await cache.set("a", {"x": 1})  # L2 write fails, logged, not raised
    assert await cache.get("a") == {"x": 1}
    assert await cache.get("missing") is None
    assert await cache.delete("a") is True
    stats = await cache.get_stats()
    assert stats["l2_errors"] >= 1 and stats["l2_available"] is False
    assert stats["l1_hits"] == 1 and stats["total_misses"] == 1
    assert any("L2 cache" in r.getMessage() for r in caplog.records)
    await cache.close()


async def test_l1_only_and_bad_input() -> None:
    cache = MultiLevelCache(l1_max_size=5)
    await cache.set("k", "v")
    assert await cache.get("k") == "v"
    with pytest.raises(ValueError, match="key"):
        await cache.get("")
    with pytest.raises(ValueError, match="l1_ttl"):
        await cache.set("k", 1, l1_ttl=-1)
    with pytest.raises(ValueError, match="max_size"):
        L1Cache(max_size=0)
    with pytest.raises(ValueError, match="redis_url"):
        MultiLevelCache(redis_url="http://localhost")


@pytest.mark.redis
async def test_non_json_value_is_rejected_naming_the_key(redis_client: aioredis.Redis) -> None:
    cache = MultiLevelCache(redis_client, namespace=f"test_mlc_{uuid.uuid4().hex}")
    with pytest.raises(TypeError, match="'obj'"):
        await cache.set("obj", object())
    assert await cache.get("obj") is None

"""The original platform's variables: POSTGRES_* and DRAGONFLY_* stand in for DATABASE_URL and
CACHE_URL when those are unset (a real hub process on a database named that way), and the SDK's
router reads POSTGRES_*, DRAGONFLY_* and CLICKHOUSE_*."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import httpx

from centralhub.core.settings import load_settings
from centralhub.sdk.database import DatabaseRouter
from tests.conftest import create_pg_database, drop_pg_database, free_port

PARTS = {
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_PORT": "6543",
    "POSTGRES_DB": "trading",
    "POSTGRES_USER": "suho",
    "POSTGRES_PASSWORD": "p@ss w/rd",
    "DRAGONFLY_HOST": "cache.internal",
    "DRAGONFLY_PORT": "6380",
    "DRAGONFLY_PASSWORD": "s3cret",
    "DRAGONFLY_DB": "2",
}


def test_urls_are_composed_from_the_parts_when_unset() -> None:
    settings = load_settings(env=PARTS)
    assert settings.database_url == "postgresql://suho:p%40ss%20w%2Frd@db.internal:6543/trading"
    assert urlsplit(settings.database_url).password == "p%40ss%20w%2Frd"
    assert settings.cache_url == "redis://:s3cret@cache.internal:6380/2"
    given = load_settings(
        env={**PARTS, "DATABASE_URL": "sqlite:///x.db", "CACHE_URL": "redis://other:6379/0"}
    )
    assert (given.database_url, given.cache_url) == ("sqlite:///x.db", "redis://other:6379/0")
    assert load_settings(env={"POSTGRES_USER": "only-a-user"}).database_url.startswith("sqlite")


def test_a_hub_started_with_the_platform_variables_uses_that_database(hub_process_factory: Any) -> None:
    url = create_pg_database("centralhub_seedenv")
    parts = urlsplit(url)
    try:
        hub = hub_process_factory(
            start=False,
            POSTGRES_HOST=parts.hostname or "127.0.0.1",
            POSTGRES_PORT=str(parts.port or 5432),
            POSTGRES_DB=parts.path.lstrip("/"),
            POSTGRES_USER=parts.username or "postgres",
            POSTGRES_PASSWORD="not-shown-anywhere",
        )
        hub.env.pop("DATABASE_URL")
        hub.start()
        info = httpx.get(f"{hub.url}/api/v1/info", timeout=10).json()
        assert "postgres" in str(info).lower()
        log = hub.log_path.read_text() if hub.log_path else ""
        assert "DATABASE_URL composed from the platform's variables" in log and ":***@" in log
        assert "not-shown-anywhere" not in log
        hub.stop()
    finally:
        drop_pg_database(url)


async def test_the_router_reads_the_platform_variables() -> None:
    env = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_DB": "test",
        "POSTGRES_USER": os.environ.get("PGUSER", "postgres"),
        "DRAGONFLY_HOST": "127.0.0.1",
        "CLICKHOUSE_HOST": "127.0.0.1",
        "CLICKHOUSE_PORT": str(free_port()),  # nothing listens: reported, not fatal
        "CLICKHOUSE_USER": "analytics",
        "CLICKHOUSE_PASSWORD": "hidden",
    }
    router = DatabaseRouter.from_env(env, connect_timeout=5)
    try:
        await router.initialize()
        assert set(router.stores) == {"timescaledb", "dragonflydb", "clickhouse"}
        assert router.route("ticks").name == "timescaledb" and router.route("latest").name == "dragonflydb"
        assert "clickhouse" in router.errors and "hidden" not in str(router.describe())
    finally:
        await router.close()

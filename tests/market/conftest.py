"""Real PostgreSQL and Redis for the market tests; each test gets a unique PostgreSQL schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def pg() -> AsyncIterator[asyncpg.Connection]:
    # Fails (never skips) when PostgreSQL is unreachable.
    conn = await asyncio.wait_for(asyncpg.connect(PG_URL, timeout=5), 10)
    yield conn
    await conn.close()


@pytest.fixture
async def db_schema(pg: asyncpg.Connection) -> AsyncIterator[str]:
    """A unique PostgreSQL schema name, dropped with everything in it afterwards."""
    name = f"mkt_{uuid.uuid4().hex[:12]}"
    yield name
    await pg.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    assert await asyncio.wait_for(client.ping(), 5)
    yield client
    await client.aclose()

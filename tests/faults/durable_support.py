"""Fresh databases for durability tests: a new SQLite file or a new database on the shared PostgreSQL.

Each call gives a database no other test touches, so a hub killed mid-write and restarted finds
only what it stored itself. PostgreSQL databases are dropped when the test ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_URL, _require_port

DatabaseFactory = Callable[[str], str]


async def _admin_async(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one admin statement from sync code, even when called inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result(30)


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[DatabaseFactory]:
    """``fresh_database("sqlite" | "postgres")`` → the URL of an empty database of that kind."""
    created: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'durable-{uuid.uuid4().hex[:8]}.db'}"
        assert kind == "postgres", kind
        _require_port("127.0.0.1", 5432, "PostgreSQL")
        name = f"centralhub_durable_{uuid.uuid4().hex[:10]}"
        _admin(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"

    yield make
    for name in created:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

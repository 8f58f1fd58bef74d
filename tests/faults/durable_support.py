"""Fresh databases for durability tests: a new SQLite file or a new database on the shared PostgreSQL.

Each call gives a database no other test touches, so a hub killed mid-write and restarted finds
only what it stored itself. PostgreSQL databases are dropped when the test ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import create_pg_database, drop_pg_database

DatabaseFactory = Callable[[str], str]


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[DatabaseFactory]:
    """``fresh_database("sqlite" | "postgres")`` → the URL of an empty database of that kind."""
    created: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'durable-{uuid.uuid4().hex[:8]}.db'}"
        assert kind == "postgres", kind
        url = create_pg_database("centralhub_durable")
        created.append(url)
        return url

    yield make
    for url in created:
        drop_pg_database(url)

"""A SQLite connection closed while a cancelled query's statement is still open must let go of
its write lock at once: otherwise every other connection of the hub waits out the busy timeout
(10 s) and then fails with "database is locked"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from centralhub.core.database import RollbackOnClose


def _closed_mid_statement(path: Path, factory: type[sqlite3.Connection]) -> sqlite3.Cursor:
    conn = sqlite3.connect(path, factory=factory, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(100)])
    conn.execute("BEGIN IMMEDIATE")
    pending = conn.execute("SELECT n FROM t")
    pending.fetchone()  # the statement stays open, as a cancelled query's does
    conn.close()
    return pending  # kept alive, as the cancelled task's frame keeps it


def _can_write(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_the_lock_goes_with_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    pending = _closed_mid_statement(path, RollbackOnClose)
    assert _can_write(path)
    del pending


def test_a_plain_connection_would_keep_it(tmp_path: Path) -> None:
    """Why the hub's connections roll back on close: the plain one keeps the lock."""
    path = tmp_path / "hub.db"
    pending = _closed_mid_statement(path, sqlite3.Connection)
    if _can_write(path):
        pytest.fail("this SQLite releases the lock by itself; RollbackOnClose could go")
    del pending
    assert _can_write(path)  # once the statement is released, the lock goes


async def test_the_hub_opens_its_sqlite_connections_so(tmp_path: Path) -> None:
    from centralhub.core.database import Database

    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection._connection, RollbackOnClose)  # type: ignore[union-attr]
    finally:
        await db.close()

"""Engine creation and start-up migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
import asyncpg
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from centralhub.core.settings import to_sqlalchemy_url

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock key so hub replicas starting together migrate one at a time
_MIGRATION_LOCK = 7_000_417

#: what the drivers raise when the database cannot be reached or drops the connection, as
#: opposed to a statement the database refused (a constraint, a bad query)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,  # no pooled connection came free: the database is not answering
    exc.DisconnectionError,
    ConnectionError,  # refused or reset while connecting (asyncpg raises these unwrapped)
    socket.gaierror,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # the server is shutting down or starting
)


def is_storage_failure(error: BaseException) -> bool:
    """Whether ``error`` means the database is unreachable (retry later), not a refused statement.

    SQLAlchemy wraps what the driver raised (``orig``), which may itself wrap asyncpg's own
    error (``__cause__``): "the database system is starting up" arrives three layers deep."""
    seen: BaseException | None = error
    for _depth in range(6):
        if seen is None:
            return False
        if isinstance(seen, OUTAGE_ERRORS):
            return True
        if isinstance(seen, exc.DBAPIError):
            if seen.connection_invalidated:
                return True
            seen = seen.orig if seen.orig is not None else seen.__cause__
        else:
            seen = seen.__cause__
    return False


def describe_url(url: str) -> str:
    """``host:port/database`` of a database URL (the file for SQLite), never its password."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return url.partition(":///")[2] or ":memory:"
    user = f"{parts.username}@" if parts.username else ""
    secret = ":***" if parts.password else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{user.removesuffix('@')}{secret}{'@' if user else ''}{host}{port}{parts.path or '/'}"


class RollbackOnClose(sqlite3.Connection):
    """A SQLite connection that ends its transaction before closing.

    A task cancelled in the middle of a query leaves that query's statement open, and the pool
    then closes the connection. SQLite keeps a connection closed with an open statement alive
    until the statement is released, transaction and write lock included, so every other
    connection would wait out its busy timeout. Rolling back first lets the lock go at once."""

    def close(self) -> None:
        # a second close stays the no-op it is on a plain connection (in_transaction would raise)
        with contextlib.suppress(sqlite3.Error):
            if self.in_transaction:
                self.rollback()
        super().close()


class Database:
    """Owns the async engine; ``await start()`` creates the schema up to the newest migration."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.sa_url = to_sqlalchemy_url(url)
        self.is_sqlite = self.sa_url.startswith("sqlite")
        #: the aiosqlite connections this engine opened (each runs a worker thread of its own)
        self._sqlite_conns: weakref.WeakSet[Any] = weakref.WeakSet()
        self.engine: AsyncEngine = self._create_engine(echo)

    def _create_engine(self, echo: bool) -> AsyncEngine:
        if self.is_sqlite:
            path = self.sa_url.partition(":///")[2]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # SQLite has one writer at a time. One pooled connection serializes this process's
            # work in order (no "database is locked" between our own transactions), and
            # BEGIN IMMEDIATE takes the write lock up front, so a transaction that reads then
            # writes can never fail to upgrade its lock against another process.
            extra: dict[str, Any] = {}
            if path and path != ":memory:" and "?" not in path:

                async def _open() -> Any:
                    # known before it is awaited: a connect cancelled half-way still has a
                    # thread to wait for when the database closes
                    conn = aiosqlite.connect(path, factory=RollbackOnClose)
                    self._sqlite_conns.add(conn)
                    return await conn

                extra["async_creator"] = _open
            engine = create_async_engine(
                self.sa_url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60, **extra
            )

            @event.listens_for(engine.sync_engine, "connect")
            def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
                # WAL keeps readers off the writer's back; NORMAL sync is durable across a
                # process kill (only an OS crash can lose the last transaction).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()

            @event.listens_for(engine.sync_engine, "begin")
            def _begin_immediate(conn):  # type: ignore[no-untyped-def]
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        # no pre-ping: it costs a round trip per checkout; SQLAlchemy invalidates a dropped
        # connection on first use anyway
        return create_async_engine(self.sa_url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=False)

    async def start(self) -> None:
        """Apply pending migrations (idempotent; safe with several replicas on PostgreSQL).

        The migrations form one linear history. A database migrated while they still branched
        from the first one records several revisions; it is brought onto the line first.
        """
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            await conn.run_sync(_upgrade)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self.is_sqlite:
            await self._sqlite_threads_done()

    async def _sqlite_threads_done(self, limit: float = 15.0) -> None:
        """Wait for the worker threads of connections being closed to finish.

        A task cancelled during a statement leaves its connection to be closed behind that
        statement, which may be waiting out another writer's lock (the busy timeout). The
        thread reports back to this event loop when it is done; returning before that would
        let the loop close under it."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            closing = [
                c
                for c in list(self._sqlite_conns)
                if not getattr(c, "_running", True) and c._thread is not None and c._thread.is_alive()
            ]
            if not closing:
                return
            await asyncio.sleep(0.02)
        log.warning("a SQLite connection was still closing when the database was closed")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    _join_branched_history(cfg, connection)
    command.upgrade(cfg, "head")


def _join_branched_history(cfg: Config, connection: Connection) -> None:
    """Collapse the version rows left by the old branched history into one revision of the line.

    Every migration after the first once revised the first one directly, so a database migrated
    then holds one row per applied branch (all four of 0002..0005 once fully migrated), each row
    standing for itself plus the first migration. Those migrations create independent tables, so
    any one skipped before the newest recorded revision is applied on its own, in line order; then
    the version table is stamped with that newest revision and the normal upgrade continues.
    """
    recorded = MigrationContext.configure(connection).get_current_heads()
    if len(recorded) <= 1:
        # empty, or one point on the line: the line follows release order, so the one-row states
        # of the branched history (0001, then 0005_contracts alone) are points of the line too
        return
    script = ScriptDirectory.from_config(cfg)
    line = [s.revision for s in reversed(list(script.walk_revisions()))]
    unknown = sorted(set(recorded) - set(line))
    if unknown:
        raise RuntimeError(f"database records unknown migration revisions {unknown}; is this hub too old?")
    applied = {line[0], *recorded}
    newest = max(line.index(rev) for rev in recorded)
    log.info("joining branched migration history %s into one line at %s", sorted(recorded), line[newest])
    for position in range(1, newest + 1):
        if line[position] not in applied:
            command.stamp(cfg, line[position - 1], purge=True)
            command.upgrade(cfg, line[position])
    command.stamp(cfg, line[newest], purge=True)

"""Engine creation and start-up migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from centralhub.core.settings import to_sqlalchemy_url

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock key so hub replicas starting together migrate one at a time
_MIGRATION_LOCK = 7_000_417


class Database:
    """Owns the async engine; ``await start()`` creates the schema up to the newest migration."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.sa_url = to_sqlalchemy_url(url)
        self.is_sqlite = self.sa_url.startswith("sqlite")
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
            engine = create_async_engine(self.sa_url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60)

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

        Each capability adds its own migration branching from 0001, so we upgrade to all heads.
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


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "heads")

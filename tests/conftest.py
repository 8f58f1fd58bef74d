"""Shared fixtures: real PostgreSQL/Redis/NATS, the hub in-process and as a real server process.

Tests that need a server fail (never skip) when it is unreachable: CI starts them first.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from centralhub.core.database import Database
from centralhub.core.settings import Settings, load_settings
from centralhub.hub import Hub
from centralhub.server.app import create_app

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
ROOT = Path(__file__).resolve().parent.parent
#: auth_hub / auth_client fixtures (auth required) for any test that needs auth on
pytest_plugins = ["tests.auth_support", "tests.fault_support"]


def _require_port(url_host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((url_host, port), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"{what} is not reachable at {url_host}:{port} ({exc}); start it (see README)")


def _pg_admin(sql: str) -> None:
    """One admin statement on the shared server; callable from sync code and from a running loop."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(30)


def create_pg_database(prefix: str = "centralhub_test") -> str:
    """A new, empty database on the shared PostgreSQL; its URL. Drop it with :func:`drop_pg_database`."""
    _require_port("127.0.0.1", 5432, "PostgreSQL")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_pg_database(url: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session; its URL (postgresql://...)."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """A PostgreSQL database of this test alone: replicas sharing it see no other test's rows."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    _require_port("127.0.0.1", 6379, "Redis")
    return REDIS_URL


@pytest.fixture(scope="session")
def nats_url() -> str:
    _require_port("127.0.0.1", 4222, "NATS")
    return NATS_URL


async def reset_database(url: str) -> None:
    """Migrate, then empty every table (keeping the migration record)."""
    db = Database(url)
    try:
        await db.start()
        async with db.engine.begin() as conn:
            if db.is_sqlite:
                rows = await conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type='table' AND name != 'alembic_version'")
                )
                for (table,) in rows.all():
                    await conn.execute(text(f'DELETE FROM "{table}"'))
            else:
                rows = await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                        "AND tablename != 'alembic_version'"
                    )
                )
                tables = [r[0] for r in rows.all()]
                if tables:
                    await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)))
    finally:
        await db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("pg_database"))


#: tests send far more than the default 1,000 requests a minute from one address; the tests of
#: the rate limit itself set their own
TEST_RATE_LIMIT = 10**9


def make_settings(database_url: str, **overrides: Any) -> Settings:
    overrides.setdefault("rate_limit_per_minute", TEST_RATE_LIMIT)
    overrides.setdefault("rate_limit_burst", TEST_RATE_LIMIT)
    return load_settings(env={}, database_url=database_url, **overrides)


@pytest.fixture
async def hub_settings(database_url: str) -> Settings:
    await reset_database(database_url)
    return make_settings(database_url, reaper_interval_seconds=0.2, deregister_grace_seconds=1.0)


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[Hub]:
    """A started hub (registry, config, ...) on the parametrized database, in-process bus."""
    h = Hub(hub_settings)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client talking to ``hub`` through the real ASGI app (no socket)."""
    app = create_app(hub.settings, hub=hub)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HubProcess:
    """The real ``centralhub serve`` process on a socket."""

    url: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 60.0) -> None:
        assert self.log_path is not None
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "centralhub.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(self.log_path.parent),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited early: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub not ready in {timeout}s: {self.log_path.read_text()[-2000:]}")

    def stop(self, sig: int = 15, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@pytest.fixture
def hub_process_factory(tmp_path: Path) -> Iterator[Any]:
    """Start real hub processes: ``factory(database_url=..., **env)`` → started HubProcess."""
    started: list[HubProcess] = []

    def factory(database_url: str | None = None, start: bool = True, **env: str) -> HubProcess:
        port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "NATS_URL"))}
        # let the first hub process cache its bytecode so the next ones start in a second
        full_env.pop("PYTHONDONTWRITEBYTECODE", None)
        full_env.update(
            {
                "DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'proc-hub.db'}",
                "CENTRAL_HUB_PORT": str(port),
                "CENTRAL_HUB_HOST": "127.0.0.1",
                "LOG_LEVEL": "INFO",
                "CENTRAL_HUB_RATE_LIMIT_PER_MINUTE": str(TEST_RATE_LIMIT),
                "CENTRAL_HUB_RATE_LIMIT_BURST": str(TEST_RATE_LIMIT),
            }
        )
        full_env.update(env)
        hp = HubProcess(
            url=f"http://127.0.0.1:{port}", port=port, env=full_env, log_path=tmp_path / f"hub-{port}.log"
        )
        started.append(hp)
        if start:
            hp.start()
        return hp

    yield factory
    for hp in started:
        if hp.proc is not None and hp.proc.poll() is None:
            hp.stop(sig=9)

"""``DatabaseManager``: a service's named database connections, with the platform's API.

Built on :mod:`centralhub.sdk.database`: each ``add_connection`` configures one store of the
manager's own :class:`~centralhub.sdk.database.DatabaseRouter` and connects it (retried with
backoff), so the manager and the router share one backend per store and one health check.
``execute`` runs a query on a connection (the first added unless named) and returns its rows;
a query that fails because the store dropped the connection is retried, a query the store
refuses is not. ``transaction`` is PostgreSQL's (the only store here with transactions).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from centralhub.kit.retry import connect_with_retry
from centralhub.sdk.database import DatabaseHealthChecker, DatabaseRouter, StoreUnavailable
from centralhub.sdk.database.base import Backend

__all__ = ["DatabaseConfig", "DatabaseManager"]

_ROWS = ("select", "with", "show", "describe", "explain", "values", "table")


@dataclass
class DatabaseConfig:
    host: str = "127.0.0.1"
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    url: str | None = field(default=None, repr=False)
    #: pool size, timeouts, ``embedded`` (chdb) and the like, passed to the backend
    options: dict[str, Any] = field(default_factory=dict)

    def settings(self, kind: str, max_connections: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": kind,
            "host": self.host,
            "max_connections": max_connections,
            **self.options,
        }
        for key, value in (
            ("port", self.port),
            ("database", self.database),
            ("user", self.username),
            ("password", self.password),
            ("url", self.url),
        ):
            if value is not None:
                out[key] = value
        return out


def _connection_lost(exc: BaseException) -> bool:
    """A failure of the connection (worth another try), not of the query."""
    if isinstance(exc, StoreUnavailable | ConnectionError | TimeoutError):
        return True
    name = type(exc).__name__
    return name in ("ConnectionDoesNotExistError", "InterfaceError", "ConnectionFailureError")


def _connector(backend: Backend) -> Callable[[], Awaitable[bool]]:
    async def connect() -> bool:
        await backend.connect()
        return True

    return connect


class DatabaseManager:
    def __init__(self, service_name: str, max_connections: int = 20, *, retries: int = 3) -> None:
        self.service_name = service_name
        self.max_connections = max_connections
        self.retries = retries
        self.router = DatabaseRouter({}, allow_empty=True)
        self._default: str | None = None
        self.queries = 0
        self.failures = 0

    async def add_connection(
        self,
        name: str,
        kind: str,
        config: DatabaseConfig,
        *,
        connect_retries: int = 3,
        base_delay: float = 0.5,
    ) -> Backend:
        """Configure and connect ``name`` (``postgresql``, ``clickhouse``, ``mongodb``,
        ``arangodb``, ``redis``, ``weaviate``); the first one added is the default."""
        backend = self.router.add_store(name, config.settings(kind, self.max_connections))
        try:
            _connected: bool = await connect_with_retry(
                _connector(backend),
                f"{self.service_name}:{name}",
                connect_retries,
                base_delay=base_delay,
                max_delay=5,
            )
        except Exception:
            del self.router.stores[name]
            raise
        self._default = self._default or name
        return backend

    def connection(self, name: str | None = None) -> Backend:
        chosen = name or self._default
        if chosen is None:
            raise StoreUnavailable(f"{self.service_name}: no database connection added")
        return self.router.get(chosen)

    async def execute(self, query: str, *args: Any, connection: str | None = None) -> list[dict[str, Any]]:
        """Run ``query`` (parameters ``$1``... on PostgreSQL, ``@name`` bind variables on
        ArangoDB as one dict); its rows (none for a statement without any)."""
        backend = self.connection(connection)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=0.2, max=2),
            retry=retry_if_exception_type((StoreUnavailable, ConnectionError, TimeoutError)),
            reraise=True,
        )
        self.queries += 1
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._run(backend, query, args)
        except Exception:
            self.failures += 1
            raise
        raise AssertionError("unreachable")

    async def _run(self, backend: Any, query: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        try:
            if backend.kind == "postgresql":
                return list(await backend.fetch(query, *args))
            if backend.kind == "clickhouse":
                if query.lstrip().split(None, 1)[0].lower() in _ROWS:
                    return list(await backend.query(query))
                await backend.command(query)
                return []
            if backend.kind == "arangodb":
                return list(await backend.aql(query, args[0] if args else None))
        except Exception as exc:
            if _connection_lost(exc) and not isinstance(exc, StoreUnavailable):
                raise StoreUnavailable(str(exc)) from exc
            raise
        raise TypeError(f"{backend.name} ({backend.kind}) takes no query language: use its backend's methods")

    async def fetch_one(self, query: str, *args: Any, connection: str | None = None) -> dict[str, Any] | None:
        rows = await self.execute(query, *args, connection=connection)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def transaction(self, connection: str | None = None) -> AsyncIterator[Any]:
        """A PostgreSQL connection in a transaction (committed at the end, rolled back on error)."""
        backend = self.connection(connection)
        if backend.kind != "postgresql":
            raise TypeError(f"{backend.name} ({backend.kind}) has no transactions")
        async with backend.transaction() as conn:  # type: ignore[attr-defined]
            yield conn

    async def health_check(self) -> dict[str, Any]:
        """Each connection's health (the router's checker) and the manager's counters."""
        report = await DatabaseHealthChecker(self.router).check_all()
        return {**report, "queries": self.queries, "failures": self.failures, "checked_at": time.time()}

    async def close(self) -> None:
        await self.router.close()

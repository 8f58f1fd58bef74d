"""``DatabaseRouter``: one object that knows every store a service uses and which one each kind
of data goes to.

Routing follows the platform's layout: ticks and candles to the time-series store
(TimescaleDB/PostgreSQL), analytics to ClickHouse, latest values and caches to DragonflyDB, graphs
to ArangoDB, vectors to Weaviate, documents to MongoDB. ``initialize`` connects every configured
store at once; one that cannot be reached is recorded (``router.errors``) and does not stop the
others unless ``required`` names it, so a service starts with the stores it can have and its
health check says which are missing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from centralhub.core.seed_env import clickhouse_settings, dragonfly_url, postgres_url
from centralhub.sdk.database.base import Backend, StoreUnavailable
from centralhub.sdk.database.config import StoreConfig

__all__ = ["DATA_ROUTES", "DatabaseRouter", "backend_for"]

log = logging.getLogger(__name__)

#: the kind of data -> the backend kinds that hold it, in order of preference
DATA_ROUTES: dict[str, tuple[str, ...]] = {
    "ticks": ("postgresql", "clickhouse"),
    "candles": ("postgresql", "clickhouse"),
    "timeseries": ("postgresql", "clickhouse"),
    "analytics": ("clickhouse", "postgresql"),
    "latest": ("redis",),
    "cache": ("redis",),
    "graph": ("arangodb",),
    "vectors": ("weaviate",),
    "documents": ("mongodb", "arangodb"),
}


def backend_for(config: StoreConfig) -> Backend:
    """A backend of the config's kind (its client library is imported only when connecting)."""
    if config.kind == "postgresql":
        from centralhub.sdk.database.postgres import PostgresBackend

        return PostgresBackend(config)
    if config.kind == "clickhouse":
        from centralhub.sdk.database.clickhouse import ClickHouseBackend

        return ClickHouseBackend(config)
    if config.kind == "redis":
        from centralhub.sdk.database.dragonfly import DragonflyBackend

        return DragonflyBackend(config)
    if config.kind == "arangodb":
        from centralhub.sdk.database.arango import ArangoBackend

        return ArangoBackend(config)
    if config.kind == "weaviate":
        from centralhub.sdk.database.weaviate import WeaviateBackend

        return WeaviateBackend(config)
    from centralhub.sdk.database.mongo import MongoBackend

    return MongoBackend(config)


class DatabaseRouter:
    """``DatabaseRouter({"timescaledb": {...}, "clickhouse": {...}, ...})``."""

    def __init__(
        self,
        config: Mapping[str, Mapping[str, Any]],
        *,
        connect_timeout: float = 15.0,
        allow_empty: bool = False,
    ) -> None:
        if not config and not allow_empty:
            raise ValueError("DatabaseRouter needs at least one store")
        self.stores: dict[str, Backend] = {
            name: backend_for(StoreConfig.from_mapping(name, raw)) for name, raw in config.items()
        }
        self.connect_timeout = connect_timeout
        #: stores that could not be connected, with why
        self.errors: dict[str, str] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> DatabaseRouter:
        """The stores the environment describes, in the original platform's names:
        ``POSTGRES_*`` (timescaledb), ``CLICKHOUSE_*``, ``DRAGONFLY_*`` (dragonflydb), and
        ``ARANGODB_URL``, ``WEAVIATE_URL``, ``MONGODB_URL``."""
        env = os.environ if env is None else env
        config: dict[str, dict[str, Any]] = {}
        if url := postgres_url(env):
            config["timescaledb"] = {"url": url}
        if settings := clickhouse_settings(env):
            config["clickhouse"] = settings
        if url := dragonfly_url(env):
            config["dragonflydb"] = {"url": url}
        for store, name in (
            ("arangodb", "ARANGODB_URL"),
            ("weaviate", "WEAVIATE_URL"),
            ("mongodb", "MONGODB_URL"),
        ):
            if env.get(name):
                config[store] = {"url": env[name]}
        if not config:
            raise ValueError(
                "no store described: set POSTGRES_HOST, CLICKHOUSE_HOST, DRAGONFLY_HOST or a *_URL"
            )
        return cls(config, **kwargs)

    async def initialize(self, *, required: Iterable[str] | bool = ()) -> None:
        """Connect every store concurrently. ``required``: the names (or ``True`` for all) whose
        failure raises :class:`StoreUnavailable`; the others are logged and left out."""
        names = list(self.stores)
        results = await asyncio.gather(*(self._connect(n) for n in names), return_exceptions=True)
        must = set(names) if required is True else set(required or ())
        unknown = must - set(names)
        if unknown:
            raise ValueError(f"required store(s) not configured: {', '.join(sorted(unknown))}")
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                self.errors[name] = str(result)
                log.warning("store %s (%s) not available: %s", name, self.stores[name].config.where, result)
        failed = sorted(must & set(self.errors))
        if failed:
            raise StoreUnavailable("; ".join(f"{n}: {self.errors[n]}" for n in failed))

    async def _connect(self, name: str) -> None:
        backend = self.stores[name]
        if backend.connected:
            return
        try:
            await asyncio.wait_for(backend.connect(), self.connect_timeout)
        except TimeoutError:
            raise StoreUnavailable(f"{name}: no answer within {self.connect_timeout:g}s") from None
        self.errors.pop(name, None)

    def add_store(self, name: str, settings: Mapping[str, Any]) -> Backend:
        """Configure one more store (connect it with :meth:`initialize`)."""
        if name in self.stores:
            raise ValueError(f"a store named {name!r} is configured already")
        backend = self.stores[name] = backend_for(StoreConfig.from_mapping(name, settings))
        return backend

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self.stores.values()), return_exceptions=True)

    async def __aenter__(self) -> DatabaseRouter:
        await self.initialize()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- routing
    def get(self, name: str) -> Backend:
        """The store configured as ``name`` (connected or not)."""
        try:
            return self.stores[name]
        except KeyError:
            raise KeyError(f"no store named {name!r} (configured: {', '.join(self.stores)})") from None

    def of_kind(self, kind: str) -> Backend | None:
        """The first connected store of backend ``kind`` (``postgresql``, ``clickhouse``...)."""
        for backend in self.stores.values():
            if backend.kind == kind and backend.connected:
                return backend
        return None

    def route(self, data: str) -> Backend:
        """Where ``data`` (``ticks``, ``analytics``, ``latest``, ``graph``, ``vectors``,
        ``documents``...) goes: the first connected store of the kinds that hold it."""
        kinds = DATA_ROUTES.get(data)
        if kinds is None:
            raise KeyError(f"unknown kind of data {data!r} (known: {', '.join(DATA_ROUTES)})")
        for kind in kinds:
            found = self.of_kind(kind)
            if found is not None:
                return found
        raise StoreUnavailable(f"no connected store holds {data} (it goes to {' or '.join(kinds)})")

    def describe(self) -> dict[str, Any]:
        """Every store: kind, where (no password), connected, and the error if it failed."""
        return {
            name: {
                "kind": b.kind,
                "where": b.config.where,
                "connected": b.connected,
                **({"error": self.errors[name]} if name in self.errors else {}),
            }
            for name, b in self.stores.items()
        }

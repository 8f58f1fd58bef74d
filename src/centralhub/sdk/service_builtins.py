"""What every ``BaseService`` has built in besides the hub: databases (``self.db``), a cache
(``self.cache``), request tracing (``self.tracer``) and circuit breakers (``self.circuits``).

``ServiceConfig(databases={...}, caches={...})`` names the stores; they are opened before
``on_startup`` and closed after ``on_shutdown``. Without a cache configured the service gets an
in-memory one, so ``cache_get``/``cache_set`` always work. ``enable_tracing`` records every
request as a span under its correlation id (``X-Correlation-ID``, adopted from the caller or
minted, echoed in the answer and passed on by ``call_peer``); ``enable_circuit_breaker`` puts
``call_peer`` behind one breaker per peer service, so a peer that keeps failing is not called
until it has had time to recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from centralhub.kit.cache_manager import CacheConfig, CacheManager
from centralhub.kit.circuit_breaker import CircuitBreakerManager
from centralhub.kit.database_manager import DatabaseConfig, DatabaseManager
from centralhub.kit.tracing import RequestTracer
from centralhub.sdk.service_figures import ServiceFigures

__all__ = ["ServiceBuiltins", "TraceRequests"]

_DB_FIELDS = ("host", "port", "database", "username", "password", "url")
_CACHE_FIELDS = ("backend", "host", "port", "password", "db", "url", "default_ttl", "max_size")


class TraceRequests:
    """Pure ASGI middleware: each HTTP request as a span named ``METHOD /route``."""

    def __init__(self, app: ASGIApp, *, tracer: RequestTracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.tracer.trace(f"{scope['method']} {scope['path']}") as span:
            started = time.perf_counter()

            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.metadata["status"] = message["status"]
                    span.metadata["ms_to_headers"] = round((time.perf_counter() - started) * 1000, 2)
                await send(message)

            await self.app(scope, receive, sending)


def _database_config(name: str, raw: dict[str, Any]) -> tuple[str, DatabaseConfig]:
    values = dict(raw)
    kind = values.pop("kind", None) or name
    if "user" in values:
        values["username"] = values.pop("user")
    known = {k: values.pop(k) for k in _DB_FIELDS if k in values}
    return str(kind), DatabaseConfig(**known, options=values)


class ServiceBuiltins:
    """Mixed into :class:`~centralhub.sdk.base_service.BaseService`."""

    config: Any
    service_name: str
    hub: Any

    def _make_builtins(self) -> None:
        c = self.config
        self.db = DatabaseManager(c.service_name, max_connections=c.max_connections)
        self.cache = CacheManager(c.service_name, default_ttl=c.cache_ttl_default)
        self.tracer: RequestTracer | None = RequestTracer(c.service_name) if c.enable_tracing else None
        #: request latency, error rate and ErrorDNA clusters, sent with the heartbeats
        self.figures = ServiceFigures()
        self._figures_task: asyncio.Task[None] | None = None
        self.circuits: CircuitBreakerManager | None = (
            # a peer that cannot be reached counts; an answer, even an error, means it is there
            CircuitBreakerManager(c.service_name, expected_exceptions=(httpx.TransportError,))
            if c.enable_circuit_breaker
            else None
        )

    async def _open_builtins(self) -> None:
        for name, raw in (self.config.databases or {}).items():
            kind, settings = _database_config(name, raw)
            await self.db.add_connection(name, kind, settings)
        caches = self.config.caches or {"memory": {"backend": "memory"}}
        for name, raw in caches.items():
            unknown = sorted(set(raw) - set(_CACHE_FIELDS))
            if unknown:
                raise ValueError(f"cache {name!r}: unknown setting {unknown[0]!r}")
            await self.cache.add_backend(name, CacheConfig(**raw))

    def _start_figures(self, every: float) -> None:
        """Hand the figures to the hub client every ``every`` seconds (each heartbeat sends the
        latest it was given)."""

        async def report() -> None:
            while True:
                self.hub.report_metrics(self.figures.snapshot())
                await asyncio.sleep(every)

        self._figures_task = asyncio.create_task(report(), name=f"figures-{self.service_name}")

    async def _close_builtins(self) -> None:
        task, self._figures_task = self._figures_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.cache.close()
        await self.db.close()

    async def builtins_health(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.db.router.stores:
            report = await self.db.health_check()
            out["databases"] = {"status": report["status"], "stores": report["stores"]}
        if self.cache.backends:
            out["cache"] = self.cache.stats()
        if self.circuits is not None and self.circuits.states():
            out["circuits"] = {name: state.value for name, state in self.circuits.states().items()}
        return out

    # ------------------------------------------------------------------ the platform's names
    async def db_execute(self, query: str, *args: Any, connection: str | None = None) -> list[dict[str, Any]]:
        return await self.db.execute(query, *args, connection=connection)

    async def cache_get(self, key: str, default: Any = None, *, namespace: str | None = None) -> Any:
        return await self.cache.get(key, default, namespace=namespace)

    async def cache_set(
        self, key: str, value: Any, ttl: float | None = None, *, namespace: str | None = None
    ) -> bool:
        return await self.cache.set(key, value, ttl, namespace=namespace)

    async def cache_delete(self, key: str, *, namespace: str | None = None) -> bool:
        return await self.cache.delete(key, namespace=namespace)

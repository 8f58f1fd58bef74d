"""``BaseService``: a FastAPI service wired to the hub.

What a subclass gets:

* ``service.app`` (FastAPI) with ``GET /health`` = built-in state + ``custom_health_checks()``,
  and ``GET /metrics`` (Prometheus text: requests by route, configuration reloads);
* configuration from the hub through ``ConfigClient`` (NATS push when the hub publishes there, else
  the hub's watch query; checked at least every ``reconcile_seconds``),
  readable with ``config_value(path)`` / ``await get_config(path)``
  and hot-reloaded: ``on_config_change(new, old)`` runs on each new version;
* registration with the hub and background heartbeats (``self.hub`` is the ``CentralHubClient``);
* ``await call_peer(name, method, path)``: discover a peer through the hub, call it directly;
* a route that raises a Central Hub error (e.g. ``ServiceNotFound``) answers the kit's
  ``to_dict()`` body with the status the hub's one table gives its class (404 here);
* lifecycle order: config -> ``on_startup()`` -> register; on SIGTERM/SIGINT (uvicorn's graceful
  shutdown): deregister -> ``on_shutdown()`` -> close.

``service.run()`` serves the app with uvicorn on ``config.host:config.port``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from centralhub.core import wire
from centralhub.core.errors import CentralHubError, status_for
from centralhub.core.logs import quiet_chatty_libraries
from centralhub.core.time import rfc3339
from centralhub.kit.exceptions import BaseServiceError, NoHealthyInstances, ServiceNotFound
from centralhub.kit.tracing import CorrelationIdMiddleware, async_correlation_hook
from centralhub.sdk.client import CentralHubClient, HubUnavailable
from centralhub.sdk.config_client import ConfigClient
from centralhub.sdk.hub_link import CACHE_DIR_ENV, cache_file
from centralhub.sdk.service_builtins import ServiceBuiltins, TraceRequests
from centralhub.sdk.service_metrics import RequestMetrics, ServiceMetrics

__all__ = ["BaseService", "ServiceConfig"]

log = logging.getLogger(__name__)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass
class ServiceConfig:
    """How a service runs and how it introduces itself to the hub (the platform's ``ServiceConfig``).

    ``port`` defaults to ``SERVICE_PORT`` (else 8000); ``host`` (bind) to ``SERVICE_BIND_HOST``
    (else 127.0.0.1); ``advertise_host`` (what peers connect to) to ``SERVICE_HOST`` (else host);
    ``api_key`` (the hub credential, never shown in ``repr``) to ``CENTRAL_HUB_API_KEY``;
    ``ca_file`` (trusted for an https hub) to ``CENTRAL_HUB_CA_FILE``; ``nats_url`` (one URL or a
    comma-separated list) to ``NATS_URL``; ``cache_dir`` (where the last configuration and
    discovery answers survive a restart during a hub outage) to ``CENTRAL_HUB_CACHE_DIR``.
    """

    service_name: str
    version: str = "0.1.0"
    service_type: str = "service"
    port: int = field(default_factory=lambda: _env_int("SERVICE_PORT", 8000))
    host: str = field(default_factory=lambda: os.environ.get("SERVICE_BIND_HOST") or "127.0.0.1")
    advertise_host: str | None = None
    environment: str = field(default_factory=lambda: os.environ.get("CENTRAL_HUB_ENV") or "development")
    hub_url: str | None = None
    tenant_id: str | None = None
    nats_url: str | None = None
    register_with_hub: bool = True
    api_key: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    ttl_seconds: int = 30
    dependencies: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: configuration used until (and whenever) the hub has none: ``safe_defaults``
    config_defaults: dict[str, Any] = field(default_factory=dict)
    enable_config: bool = True
    #: the longest a missed configuration or discovery change goes unnoticed
    reconcile_seconds: float = 30.0
    cache_dir: str | None = field(default_factory=lambda: os.environ.get(CACHE_DIR_ENV) or None)
    #: per-request timeout for ``call_peer``
    peer_timeout_seconds: float = 5.0
    log_level: str = field(default_factory=lambda: os.environ.get("LOG_LEVEL") or "INFO")
    #: every request traced as a span under its X-Correlation-ID (``self.tracer``)
    enable_tracing: bool = True
    #: ``call_peer`` behind one circuit breaker per peer service (``self.circuits``)
    enable_circuit_breaker: bool = True
    health_check_interval: int = 30
    #: the cache's TTL when a call gives none
    cache_ttl_default: int = 300
    #: each database connection's pool size at most
    max_connections: int = 100
    #: ``self.db``'s connections: ``{"postgres": {"kind": "postgresql", "url": ...}}``
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``self.cache``'s levels in order: ``{"l1": {"backend": "memory"}, "redis": {...}}``
    caches: dict[str, dict[str, Any]] = field(default_factory=dict)


def lookup(doc: Any, path: str | None, default: Any = None) -> Any:
    """``doc["a"]["b"]`` for ``path="a.b"``; ``default`` when any step is missing."""
    if not path:
        return doc
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


class BaseService(ServiceBuiltins):
    """Subclass and override ``custom_health_checks``, ``on_startup``, ``on_shutdown`` and
    ``on_config_change``; add routes to ``self.app``."""

    def __init__(self, config: ServiceConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            config = ServiceConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either a ServiceConfig or keyword arguments, not both")
        self.config = config
        self.service_name = config.service_name
        self.logger = logging.getLogger(config.service_name)
        self.started_at = time.time()
        self.ready = False
        tenant = config.tenant_id or os.environ.get("CENTRAL_HUB_TENANT") or wire.DEFAULT_TENANT
        self.hub = CentralHubClient(
            config.service_name,
            config.service_type,
            hub_url=config.hub_url,
            host=config.advertise_host or os.environ.get("SERVICE_HOST") or config.host,
            port=config.port,
            metadata={"environment": config.environment, **config.metadata},
            tenant_id=config.tenant_id,
            version=config.version,
            ttl_seconds=config.ttl_seconds,
            health_endpoint="/health",
            dependencies=config.dependencies,
            nats_url=config.nats_url,
            api_key=config.api_key,
            ca_file=config.ca_file,
            reconcile_seconds=config.reconcile_seconds,
            discovery_cache_path=cache_file(config.cache_dir, "discovery", tenant, config.service_name),
        )
        self._config: dict[str, Any] = copy.deepcopy(config.config_defaults)
        self.config_version: int = 0
        self._config_source: ConfigClient | None = None
        #: whether the last configuration applied cleanly (``on_config_change`` did not raise)
        self.config_outcome: tuple[bool, str | None] = (True, None)
        self._make_builtins()
        hooks = {"request": [async_correlation_hook]} if config.enable_tracing else {}
        self._peers = httpx.AsyncClient(timeout=config.peer_timeout_seconds, event_hooks=hooks)
        self.app = FastAPI(title=config.service_name, version=config.version, lifespan=self._lifespan)
        self.app.state.service = self
        self.app.add_exception_handler(CentralHubError, _error_response)
        self.app.add_api_route("/health", self._health_endpoint, methods=["GET"], tags=["health"])
        # the hub lists every instance as a Prometheus target: answer there
        self.metrics = ServiceMetrics(config.service_name, config.version)
        self.app.add_api_route(
            "/metrics",
            self.metrics.endpoint,
            methods=["GET"],
            include_in_schema=False,
            response_class=Response,
        )
        self.app.add_middleware(RequestMetrics, metrics=self.metrics, figures=self.figures)
        if self.tracer is not None:
            self.app.add_middleware(TraceRequests, tracer=self.tracer)
            self.app.add_middleware(CorrelationIdMiddleware)  # outermost: the span sees the id

    # ------------------------------------------------------------------ hooks
    async def custom_health_checks(self) -> dict[str, Any]:
        """Service-specific health figures; a ``"status": "unhealthy"`` entry fails ``/health``."""
        return {}

    async def on_startup(self) -> None:
        """Runs after the configuration is loaded and before the service registers."""

    async def on_shutdown(self) -> None:
        """Runs after the service deregistered (no new peer traffic) and before connections close."""

    async def on_config_change(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Runs after a new configuration version was applied (``self.config_value`` sees it)."""

    # ------------------------------------------------------------------ configuration
    def config_value(self, path: str | None = None, default: Any = None) -> Any:
        """The current configuration (defaults merged with the hub's), or one dotted path of it."""
        return lookup(self._config, path, default)

    async def get_config(self, path: str | None = None, default: Any = None) -> Any:
        """The platform's spelling of :meth:`config_value` (``await service.get_config("api.timeout")``)."""
        return self.config_value(path, default)

    def _merged(self, incoming: dict[str, Any] | None) -> dict[str, Any]:
        return wire.deep_merge(self.config.config_defaults, incoming or {})

    async def _apply_config(self, incoming: dict[str, Any] | None) -> None:
        old, new = self._config, self._merged(incoming)
        if new == old:
            # a revision that changes none of the values this instance runs is applied all the
            # same: say so, or the drift view and a rollout's gate would wait for it for ever
            await self._report_config()
            return
        self._config = new
        self.config_version += 1
        self.metrics.config_version.set(self.config_version)
        self.logger.info("configuration updated (local version %d)", self.config_version)
        try:
            await self.on_config_change(new, old)
        except Exception as exc:
            self.metrics.config_reloads.labels(outcome="failed").inc()
            self.logger.exception("on_config_change failed")
            self.config_outcome = (False, f"{type(exc).__name__}: {exc}")
        else:
            self.metrics.config_reloads.labels(outcome="applied").inc()
            self.config_outcome = (True, None)
        await self._report_config()

    async def _report_config(self) -> None:
        """Tell the hub which revision this instance runs and whether applying it worked."""
        source = self._config_source
        if source is None or source.source != "hub" or not self.hub.registered:
            return
        ok, error = self.config_outcome
        await self.hub.report_config_applied(source.revision, ok=ok, error=error)

    def _make_config_source(self) -> ConfigClient:
        return ConfigClient(
            self.service_name,
            self.hub.hub_url,
            safe_defaults=self.config.config_defaults,
            # NATS when the hub publishes there, its blocking watch query otherwise (and while
            # NATS is down); each revision reaches on_config_change once either way
            enable_nats_updates=True,
            nats_url=self.hub.nats_url,
            tenant_id=self.hub.tenant_id,
            api_key=self.config.api_key,
            verify=self.hub.verify,
            watch=True,
            reconcile_seconds=self.config.reconcile_seconds,
            cache_path=cache_file(self.config.cache_dir, "config", self.hub.tenant_id, self.service_name),
            # the hub answers each instance by its id (a canary rollout's candidate)
            instance_id=lambda: self.hub.instance_id,
        )

    async def _start_config(self) -> None:
        source = self._make_config_source()
        self._config_source = source

        async def on_update(new_config: dict[str, Any]) -> None:
            await self._apply_config(new_config)

        source.on_config_update(on_update)
        # never raises for an unreachable hub: safe defaults now, the hub's version when it is back
        await source.init_async()
        await self._apply_config(await source.get_config())

    # ------------------------------------------------------------------ peers
    async def call_peer(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call a peer directly at the address the hub gives (no proxy through the hub).

        A connection failure refreshes discovery and tries another instance once. With
        ``enable_circuit_breaker`` the call goes through the peer's breaker: after repeated
        failures it raises ``CircuitOpenError`` at once until the peer had time to recover."""
        if self.circuits is None:
            return await self._call_peer(service, method, path, **kwargs)
        breaker = self.circuits.get_or_create(f"peer:{service}")
        return await breaker.call(self._call_peer, service, method, path, **kwargs)

    async def _call_peer(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(2):
            url = await self.hub.discover_service(service)
            try:
                return await self._peers.request(method, url + path, **kwargs)
            except httpx.TransportError as exc:
                last = exc
                if attempt == 0:
                    with contextlib.suppress(HubUnavailable, ServiceNotFound, NoHealthyInstances):
                        await self.hub.get_service(service, refresh=True)
        assert last is not None
        raise last

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load configuration, run ``on_startup``, then register with the hub."""
        if self.config.enable_config:
            await self._start_config()
        await self._open_builtins()
        await self.on_startup()
        if self.config.register_with_hub:
            await self.hub.register(keep_trying=True)
            self._start_figures(self.hub.heartbeat_interval)
            if self._config_source is not None:
                self._config_source.instance_changed()
            await self._report_config()
        self.ready = True
        self.logger.info("%s %s started on port %s", self.service_name, self.config.version, self.config.port)

    async def stop(self) -> None:
        """Deregister first so peers stop calling, then ``on_shutdown``, then close connections."""
        self.ready = False
        with contextlib.suppress(Exception):
            await self.hub.deregister()
        try:
            await self.on_shutdown()
        except Exception:
            self.logger.exception("on_shutdown failed")
        with contextlib.suppress(Exception):
            await self._close_builtins()
        if self._config_source is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._config_source.shutdown(), 5)
        await self.hub.close()
        await self._peers.aclose()
        self.logger.info("%s stopped", self.service_name)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def run(self) -> None:
        """Serve with uvicorn until SIGTERM/SIGINT, which shuts down gracefully (deregisters)."""
        import uvicorn

        logging.basicConfig(
            level=self.config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        quiet_chatty_libraries(self.config.log_level)
        uvicorn.run(
            self.app,
            host=self.config.host,
            port=self.config.port,
            log_level=self.config.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=10,
        )

    # ------------------------------------------------------------------ health
    async def health(self) -> dict[str, Any]:
        """The ``/health`` document: built-in state plus ``custom_health_checks()``.

        ``hub.last_heartbeat`` is RFC 3339 like every time the hub answers with (``None`` before
        the first acknowledged heartbeat)."""
        status = "healthy" if self.ready else "starting"
        try:
            checks = await asyncio.wait_for(self.custom_health_checks(), 10)
        except Exception as exc:
            checks = {"error": f"{type(exc).__name__}: {exc}"}
            status = "unhealthy"
        if isinstance(checks, dict) and checks.get("status") in ("unhealthy", "degraded"):
            status = checks["status"]
        builtins = await self.builtins_health()
        if status == "healthy" and builtins.get("databases", {}).get("status", "healthy") != "healthy":
            status = "degraded"  # a database is out of reach: the service still answers
        return {
            "status": status,
            "service": self.service_name,
            "version": self.config.version,
            "environment": self.config.environment,
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "hub": {
                "url": self.hub.hub_url,
                "registered": self.hub.registered,
                "instance_id": self.hub.instance_id,
                "last_heartbeat": rfc3339(self.hub.last_heartbeat_ok),
            },
            "config_version": self.config_version,
            "checks": checks,
            **builtins,
        }

    async def _health_endpoint(self) -> JSONResponse:
        doc = await self.health()
        return JSONResponse(doc, status_code=200 if doc["status"] in ("healthy", "degraded") else 503)


async def _error_response(_request: Request, exc: Exception) -> JSONResponse:
    """A route's Central Hub error as the kit's body, with the status the hub would answer."""
    assert isinstance(exc, CentralHubError)
    if isinstance(exc, BaseServiceError):
        body = exc.to_dict()
    else:
        body = {"error": exc.message, "code": exc.code, "details": exc.details or {}}
    return JSONResponse(body, status_code=status_for(exc))

"""Infrastructure components from ``infrastructure.yaml`` and the monitor that probes them.

File layout (seed §A.4)::

    databases:  {name: component, ...}
    messaging:  {name: component, ...}
    search:     {name: component, ...}
    service_dependencies: {service: {requires: [names]}}
    alerts: {...}                       # read by the alert manager

    component:  type, host, port, critical (false), description, dependencies: [names],
                health_check: {method, timeout (5), interval (30), endpoint, url,
                               failures_before_unhealthy (1)}

``type`` is one of ``TYPES`` (guessed from the name when absent: ``nats-1`` → nats,
``dragonflydb`` → redis). ``method`` defaults per type (``DEFAULT_METHOD``). ``url`` is the
connection string for ``postgres``/``redis_ping``/``nats`` (built from host/port when absent;
``url_env`` names an environment variable holding it instead, to keep secrets out of the file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from centralhub.core.errors import InvalidInput, NotFound
from centralhub.health.probes import (
    HealthCheckResult,
    check_http,
    check_kafka_admin,
    check_nats,
    check_postgres,
    check_redis_ping,
    check_tcp,
)
from centralhub.metrics import collectors as metrics

log = logging.getLogger(__name__)

SECTIONS = ("databases", "messaging", "search")
TYPES = ("postgres", "redis", "nats", "kafka", "zookeeper", "clickhouse", "arangodb", "weaviate")
METHODS = ("http", "tcp", "redis_ping", "postgres", "nats", "kafka_admin")
TYPE_ALIASES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "timescale": "postgres",
    "dragonfly": "redis",
    "dragonflydb": "redis",
    "redis": "redis",
    "nats": "nats",
    "kafka": "kafka",
    "zookeeper": "zookeeper",
    "clickhouse": "clickhouse",
    "arango": "arangodb",
    "arangodb": "arangodb",
    "weaviate": "weaviate",
}
DEFAULT_METHOD = {
    "postgres": "postgres",
    "redis": "redis_ping",
    "nats": "nats",
    "kafka": "kafka_admin",
    "zookeeper": "tcp",
    "clickhouse": "http",
    "arangodb": "http",
    "weaviate": "http",
}
DEFAULT_ENDPOINT = {"clickhouse": "/ping", "arangodb": "/_api/version", "weaviate": "/v1/.well-known/ready"}

HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"


@dataclass(slots=True)
class ComponentConfig:
    """One monitored component, validated."""

    name: str
    type: str
    host: str
    port: int
    method: str
    timeout: float = 5.0
    interval: float = 30.0
    critical: bool = False
    description: str = ""
    dependencies: list[str] = field(default_factory=list)
    endpoint: str | None = None
    url: str | None = None
    failures_before_unhealthy: int = 1
    section: str = "databases"

    def target(self) -> str:
        """What the probe connects to (URL or host:port), for display."""
        if self.method == "http":
            return f"http://{self.host}:{self.port}{self.endpoint or '/'}"
        if self.method in ("postgres", "redis_ping", "nats") and self.url:
            return _redact(self.url)
        return f"{self.host}:{self.port}"


@dataclass(slots=True)
class InfrastructureFile:
    """The parsed file: components, service dependencies and the raw ``alerts`` section."""

    components: dict[str, ComponentConfig] = field(default_factory=dict)
    service_dependencies: dict[str, list[str]] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    source: str | None = None


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{rest.split('@', 1)[1]}"
    return url


def load_infrastructure_file(path: str | os.PathLike[str] | None) -> InfrastructureFile:
    """Read and validate ``path``; ``None`` means no components. Errors name the file and field."""
    if path is None:
        return InfrastructureFile()
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"INFRASTRUCTURE_FILE: cannot read {str(p)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"INFRASTRUCTURE_FILE: {str(p)!r} is not valid YAML: {exc}") from None
    return parse_infrastructure(doc or {}, source=str(p))


def parse_infrastructure(doc: Any, *, source: str = "infrastructure.yaml") -> InfrastructureFile:
    """Validate an already-loaded document (see the module docstring for the layout)."""
    if not isinstance(doc, dict):
        raise InvalidInput(f"{source}: the top level must be a mapping")
    out = InfrastructureFile(source=source)
    for section in SECTIONS:
        entries = doc.get(section) or {}
        if not isinstance(entries, dict):
            raise InvalidInput(f"{source}: {section} must be a mapping of name -> component")
        for name, spec in entries.items():
            if str(name) in out.components:
                raise InvalidInput(f"{source}: {section}.{name}: the name is used twice")
            out.components[str(name)] = _component(
                str(name), spec or {}, f"{source}: {section}.{name}", section
            )
    deps = doc.get("service_dependencies") or {}
    if not isinstance(deps, dict):
        raise InvalidInput(
            f"{source}: service_dependencies must be a mapping of service -> {{requires: [...]}}"
        )
    for service, spec in deps.items():
        requires = spec.get("requires", []) if isinstance(spec, dict) else spec
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            raise InvalidInput(f"{source}: service_dependencies.{service}.requires must be a list of names")
        out.service_dependencies[str(service)] = list(requires)
    alerts = doc.get("alerts") or {}
    if not isinstance(alerts, dict):
        raise InvalidInput(f"{source}: alerts must be a mapping")
    out.alerts = alerts
    return out


def _component(name: str, spec: Any, where: str, section: str) -> ComponentConfig:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: must be a mapping")
    raw_type = str(spec.get("type") or "").lower()
    if not raw_type:
        raw_type = next((t for alias, t in TYPE_ALIASES.items() if alias in name.lower()), "")
    ctype = TYPE_ALIASES.get(raw_type, raw_type)
    if ctype not in TYPES:
        raise InvalidInput(f"{where}.type: {raw_type or '(missing)'!r} is not one of {', '.join(TYPES)}")
    host = spec.get("host")
    if not isinstance(host, str) or not host:
        raise InvalidInput(f"{where}.host: required (a hostname or IP address)")
    port = spec.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput(f"{where}.port: {port!r} is not a port number (1-65535)")
    hc = spec.get("health_check") or {}
    if not isinstance(hc, dict):
        raise InvalidInput(f"{where}.health_check: must be a mapping")
    method = str(hc.get("method") or DEFAULT_METHOD[ctype])
    if method not in METHODS:
        raise InvalidInput(f"{where}.health_check.method: {method!r} is not one of {', '.join(METHODS)}")
    timeout = _positive(hc.get("timeout", 5), f"{where}.health_check.timeout")
    interval = _positive(hc.get("interval", 30), f"{where}.health_check.interval")
    failures = hc.get("failures_before_unhealthy", 1)
    if not isinstance(failures, int) or failures < 1:
        raise InvalidInput(f"{where}.health_check.failures_before_unhealthy: must be an integer >= 1")
    dependencies = spec.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise InvalidInput(f"{where}.dependencies: must be a list of names")
    url = hc.get("url")
    if hc.get("url_env"):
        url = os.environ.get(str(hc["url_env"])) or url
    if url is None:
        url = {
            "postgres": f"postgresql://postgres@{host}:{port}/postgres",
            "redis_ping": f"redis://{host}:{port}/0",
            "nats": f"nats://{host}:{port}",
            "kafka_admin": f"{host}:{port}",
        }.get(method)
    port_override = hc.get("port")
    return ComponentConfig(
        name=name,
        type=ctype,
        host=host,
        port=int(port_override) if isinstance(port_override, int) else port,
        method=method,
        timeout=timeout,
        interval=interval,
        critical=bool(spec.get("critical", False)),
        description=str(spec.get("description") or ""),
        dependencies=list(dependencies),
        endpoint=hc.get("endpoint") or DEFAULT_ENDPOINT.get(ctype),
        url=url,
        failures_before_unhealthy=failures,
        section=section,
    )


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(f"{where}: {value!r} must be a number greater than 0")
    return float(value)


@dataclass(slots=True)
class ComponentHealth:
    """The seed's ``InfrastructureHealth`` for one component (``last_check`` in epoch ms)."""

    config: ComponentConfig
    status: str = UNKNOWN
    response_time_ms: float | None = None
    error: str | None = None
    last_check: int | None = None
    failures: int = 0
    since: float = field(default_factory=time.time)

    def to_dict(self, dependents: list[str]) -> dict[str, Any]:
        c = self.config
        return {
            "name": c.name,
            "type": c.type,
            "status": self.status,
            "response_time_ms": None if self.response_time_ms is None else round(self.response_time_ms, 2),
            "error": self.error,
            "last_check": self.last_check,
            "critical": c.critical,
            "dependents": dependents,
            "dependencies": c.dependencies,
            "description": c.description,
            "method": c.method,
            "target": c.target(),
            "interval_seconds": c.interval,
            "consecutive_failures": self.failures,
            "status_since": self.since,
        }


#: ``on_change(health, old_status)`` runs after a component changes status (alerts)
ChangeListener = Callable[[ComponentHealth, str], Awaitable[None]]


class InfrastructureMonitor:
    """Probes each component on its own interval; ``status()`` is the aggregated view."""

    def __init__(
        self,
        components: dict[str, ComponentConfig] | None = None,
        *,
        dependents: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.health = {name: ComponentHealth(cfg) for name, cfg in (components or {}).items()}
        self._dependents = dependents or (lambda name: [])
        self._listeners: list[ChangeListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._stopping = asyncio.Event()

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        if not self.health:
            return
        self._stopping.clear()
        self._client = httpx.AsyncClient(trust_env=False)
        self._tasks = [
            asyncio.create_task(self._loop(h), name=f"infra-{name}") for name, h in self.health.items()
        ]

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let running probes finish (bounded: their listeners may be writing alerts), then stop."""
        self._stopping.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ reads
    def overall(self) -> str:
        """``unhealthy`` if a critical component is down, ``degraded`` if any other is not
        healthy (or not yet checked), else ``healthy``."""
        if any(h.status == UNHEALTHY and h.config.critical for h in self.health.values()):
            return "unhealthy"
        if any(h.status != HEALTHY for h in self.health.values()):
            return "degraded"
        return "healthy"

    def status(self) -> dict[str, Any]:
        """``GET /api/v1/infrastructure/status``."""
        components = {name: h.to_dict(self._dependents(name)) for name, h in sorted(self.health.items())}
        return {
            "status": self.overall() if self.health else "healthy",
            "total": len(components),
            "healthy": sum(1 for h in self.health.values() if h.status == HEALTHY),
            "unhealthy": sum(1 for h in self.health.values() if h.status == UNHEALTHY),
            "unknown": sum(1 for h in self.health.values() if h.status == UNKNOWN),
            "components": components,
        }

    def component(self, name: str) -> dict[str, Any]:
        h = self.health.get(name)
        if h is None:
            raise NotFound(f"infrastructure component {name!r} is not configured")
        return h.to_dict(self._dependents(name))

    async def health_summary(self) -> dict[str, str]:
        """For ``Hub.extra_health``: ``{"infrastructure": overall}``, nothing when unconfigured."""
        if not self.health:
            return {}
        return {"infrastructure": self.overall()}

    # ------------------------------------------------------------------ probing
    async def check_now(self, name: str) -> dict[str, Any]:
        """Probe one component immediately (also updates its status)."""
        h = self.health.get(name)
        if h is None:
            raise NotFound(f"infrastructure component {name!r} is not configured")
        await self._record(h, await self.probe(h.config))
        return h.to_dict(self._dependents(name))

    async def probe(self, c: ComponentConfig) -> HealthCheckResult:
        if c.method == "tcp":
            return await check_tcp(c.host, c.port, timeout=c.timeout)
        if c.method == "http":
            if self._client is None:
                async with httpx.AsyncClient(trust_env=False) as client:
                    return await check_http(client, c.target(), timeout=c.timeout)
            return await check_http(self._client, c.target(), timeout=c.timeout)
        assert c.url is not None
        if c.method == "postgres":
            return await check_postgres(c.url, timeout=c.timeout)
        if c.method == "redis_ping":
            return await check_redis_ping(c.url, timeout=c.timeout)
        if c.method == "nats":
            return await check_nats(c.url, timeout=c.timeout)
        return await check_kafka_admin(c.url, timeout=c.timeout)

    async def _loop(self, h: ComponentHealth) -> None:
        while not self._stopping.is_set():
            try:
                await self._record(h, await self.probe(h.config))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("infrastructure check of %s failed unexpectedly", h.config.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(h.config.interval):
                    await self._stopping.wait()

    async def _record(self, h: ComponentHealth, result: HealthCheckResult) -> None:
        if result.response_time_ms is not None:
            metrics.CHECK_LATENCY.labels(check_type=h.config.method).observe(result.response_time_ms / 1000)
        h.response_time_ms = result.response_time_ms
        h.error = result.error
        h.last_check = int(result.checked_at * 1000)
        old = h.status
        if result.healthy:
            h.failures = 0
            new = HEALTHY
        else:
            h.failures += 1
            new = UNHEALTHY if h.failures >= h.config.failures_before_unhealthy else old
        if new == old:
            return
        h.status = new
        h.since = time.time()
        level = logging.WARNING if new == UNHEALTHY else logging.INFO
        log.log(level, "infrastructure %s: %s -> %s %s", h.config.name, old, new, result.error or "")
        for listener in self._listeners:
            try:
                await listener(h, old)
            except Exception:
                log.exception("infrastructure listener failed")

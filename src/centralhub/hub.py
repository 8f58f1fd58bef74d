"""The running hub: storage, event bus and domain services wired together, with their lifecycle.

Transport layers (HTTP app, tests, benchmarks) build one ``Hub`` and call ``start``/``stop``;
nothing in here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from centralhub import __version__
from centralhub.alerts.measurements import CHECK_LATENCY, Measurements
from centralhub.alerts.rule_engine import MetricRuleEngine
from centralhub.alerts.schemas import alert_document
from centralhub.alerts.service import AlertManager
from centralhub.audit.service import AuditLog
from centralhub.auth.heartbeat_keys import HeartbeatSigners
from centralhub.auth.jwt import JwtVerifier
from centralhub.auth.service import KeyService
from centralhub.config.applied import ConfigDrift
from centralhub.config.canary_gate import CanaryGate
from centralhub.config.rollouts import ConfigRollouts
from centralhub.config.service import ConfigService
from centralhub.consul.indexes import ChangeIndexes
from centralhub.consul.kv import ConsulKV
from centralhub.consul.lookup import IdLookup
from centralhub.contracts.service import ContractService
from centralhub.core.database import Database
from centralhub.core.events import EventBus, create_event_bus
from centralhub.core.events.dispatch import DomainEvents
from centralhub.core.settings import Settings
from centralhub.core.tasks import Supervisor
from centralhub.deployments.service import DeploymentCoordinator
from centralhub.events.stream import EventStream
from centralhub.graph.service import DependencyGraph
from centralhub.health.circuits import CircuitRegistry
from centralhub.health.infrastructure import InfrastructureMonitor, load_infrastructure_file
from centralhub.health.service import HealthChecker
from centralhub.registry.nats_heartbeats import NatsHeartbeats
from centralhub.registry.service import InstanceRegistry
from centralhub.replicas.service import ReplicaMembership

log = logging.getLogger(__name__)


class Hub:
    """Owns every long-running part of the hub; ``stop`` is safe to call more than once."""

    def __init__(self, settings: Settings, *, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.version = __version__
        self.started_at = time.time()
        self.database = Database(settings.database_url)
        self.bus = bus or create_event_bus(settings.nats_url, settings.cluster)
        #: every long-running task, by name; reported in ``GET /health`` under ``checks.tasks``
        self.supervisor = Supervisor()
        #: after-commit domain events for side effects (alerts, metrics, dashboard feed)
        self.events = DomainEvents()
        #: who changed what; the services record into it, a supervised task forgets old entries
        self.audit = AuditLog(
            self.database, supervisor=self.supervisor, retention_days=settings.audit_retention_days
        )
        self.registry = InstanceRegistry(
            self.database,
            self.bus,
            events=self.events,
            supervisor=self.supervisor,
            deregister_grace_seconds=settings.deregister_grace_seconds,
            heartbeat_flush_seconds=settings.heartbeat_flush_seconds,
            reaper_interval_seconds=settings.reaper_interval_seconds,
            audit=self.audit,
        )
        #: API keys and credential verification (keys and JWTs)
        self.keys = KeyService(
            self.database,
            self.bus,
            events=self.events,
            jwt=JwtVerifier(
                settings.secret,
                public_key_file=settings.jwt_public_key_file,
                jwks_file=settings.jwks_file,
            ),
            audit=self.audit,
        )
        self.cache: Any = None
        self._started = False
        #: extra parts (config service, monitors...) started after the registry, stopped before
        self.components: list[Any] = [self.audit]
        self.contracts = ContractService(self.database, self.registry, self.bus, events=self.events)
        self.components.append(self.contracts)
        #: the Consul-compatible API's change indexes (per service, per tenant) and KV store
        self.consul_indexes = ChangeIndexes()
        self.registry.add_change_listener(self._consul_service_changed)
        self.consul_kv = ConsulKV(self.database, self.bus, self.consul_indexes)
        self.consul_lookup = IdLookup(self.registry)
        self.components.append(self.consul_kv)
        #: heartbeats sent as NATS messages (signed when auth is on), shared by the replicas
        self.nats_heartbeats = NatsHeartbeats(
            self.registry,
            self.bus,
            signers=HeartbeatSigners(self.database, self.keys) if settings.auth_required else None,
            supervisor=self.supervisor,
        )
        self.components.append(self.nats_heartbeats)
        #: rolling deployments, each run as a supervised task
        self.deployments = DeploymentCoordinator(
            self.registry,
            self.database,
            self.bus,
            self.supervisor,
            events=self.events,
            audit=self.audit,
            lease_seconds=settings.deployment_lease_seconds,
            drain_seconds=settings.deployment_drain_seconds,
        )
        self.components.append(self.deployments)
        #: versioned service configuration, broadcast and watch, hot-reload directory
        self.config_service = ConfigService(
            self.database,
            self.bus,
            events=self.events,
            supervisor=self.supervisor,
            hot_reload_dir=settings.hot_reload_dir,
            hot_reload_enabled=settings.hot_reload_enabled,
            secret=settings.secret,
            audit=self.audit,
        )
        self.components.append(self.config_service)
        #: health checks, infrastructure monitor, alerts, dependency graph, circuits
        infra = load_infrastructure_file(settings.infrastructure_file)
        self.dependency_graph = DependencyGraph(
            self.registry,
            service_dependencies=infra.service_dependencies,
            components={c.name: c.dependencies for c in infra.components.values()},
        )
        self.alerts = AlertManager(
            self.database.engine,
            infra.alerts,
            events=self.events,
            supervisor=self.supervisor,
            registry=self.registry,
            dependents=self.dependency_graph.dependents_of,
            audit=self.audit,
            bus=self.bus,
        )
        self.infrastructure = InfrastructureMonitor(
            infra.components,
            events=self.events,
            supervisor=self.supervisor,
            dependents=self.dependency_graph.dependents_of,
        )
        #: the replicas sharing this database; each active health check runs on one of them
        self.replicas = ReplicaMembership(
            self.database,
            self.bus,
            supervisor=self.supervisor,
            replica_id=self.registry.replica_id,
            lease_seconds=settings.replica_lease_seconds,
        )
        self.components.append(self.replicas)
        self.health_checker = HealthChecker(
            self.registry, supervisor=self.supervisor, membership=self.replicas
        )
        self.circuits = CircuitRegistry(
            self.registry, events=self.events, engine=self.database.engine, bus=self.bus
        )
        self.extra_health = self.infrastructure.health_summary
        self.components += [self.alerts, self.infrastructure, self.health_checker, self.circuits]
        #: which configuration revision each instance runs; drift figures and alerts
        self.config_drift = ConfigDrift(
            self.database,
            self.registry,
            self.config_service,
            self.alerts,
            self.supervisor,
            drift_seconds=settings.config_drift_seconds,
        )
        self.components.append(self.config_drift)
        #: canary rollouts of configuration, gated on the canaries' health
        self.config_rollouts = ConfigRollouts(
            self.database,
            self.bus,
            self.config_service,
            self.registry,
            CanaryGate(self.database, self.registry, self.health_checker, self.alerts),
            self.supervisor,
            audit=self.audit,
            alerts=self.alerts,
            replica_id=self.registry.replica_id,
            check_seconds=settings.canary_check_seconds,
            lease_seconds=settings.config_rollout_lease_seconds,
        )
        self.components.append(self.config_rollouts)
        #: alert rules on measurements: what heartbeats carry, and each health check's latency
        self.measurements = Measurements()
        self.registry.metric_listeners.append(self.measurements.record)
        # an instance that left no longer speaks for its service's figures
        self.registry.removal_listeners.append(self.measurements.forget)
        self.health_checker.result_listeners.append(self._check_latency)
        self.metric_rules = MetricRuleEngine(self.database, self.alerts, self.measurements, self.supervisor)
        self.components.append(self.metric_rules)
        #: configuration, registry and alert changes for ``GET /api/v1/events`` (SSE)
        self.events_stream = EventStream(self.bus, alert_lookup=self._alert_document)
        self.components.append(self.events_stream)

    async def start(self) -> None:
        await self.database.start()
        await self.bus.start(self.supervisor)
        self.supervisor.start("domain-events", self.events.run)
        if self.settings.cache_url:
            import redis.asyncio as aioredis

            self.cache = aioredis.from_url(
                self.settings.cache_url, socket_connect_timeout=2, socket_timeout=2
            )
        await self.keys.start()
        await self.registry.start()
        for component in self.components:
            await component.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        # peers take this replica's health checks over now, not when its lease lapses
        await self.replicas.leave()
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %r failed", component)
        await self.registry.stop()
        await self.keys.stop()
        # side effects of the last writes still run before the bus and database go away
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.events.drain()
        await self.supervisor.stop()
        await self.bus.close()
        if self.cache is not None:
            with contextlib.suppress(Exception):
                await self.cache.aclose()
        await self.database.close()

    def _consul_service_changed(self, tenant: str, service: str) -> None:
        self.consul_indexes.bump(("svc", tenant, service), ("tenant", tenant))

    def _check_latency(self, inst: Any, result: Any) -> None:
        if result.healthy and result.response_time_ms is not None:
            self.measurements.record(
                inst.tenant_id, inst.service_name, inst.id, {CHECK_LATENCY: result.response_time_ms}
            )

    def _alert_document(self, alert_id: str) -> dict[str, Any] | None:
        """An alert this replica holds, as the API shows it (for the event stream)."""
        for alert in self.alerts._recent:
            if alert.id == alert_id:
                return alert_document(alert)
        return None

    def release_held_requests(self) -> None:
        """Answer every held request (config watches) now: the server is shutting down and
        waits for open requests before the hub stops."""
        self.config_service.watcher.close()
        self.consul_indexes.close()
        self.events_stream.close()

    # ------------------------------------------------------------------ health
    async def check_health(self) -> dict[str, Any]:
        """The platform's health document: database plus each configured server."""
        checks: dict[str, str] = {}
        checks["database"] = await _probe(self.database.ping())
        if checks["database"] != "healthy":
            self.registry.note_storage_outage()
        if self.settings.nats_url:
            checks["nats"] = "healthy" if self.bus.connected else "unhealthy"
        if self.cache is not None:
            checks["cache"] = await _probe(self.cache.ping())
        if self.settings.kafka_brokers:
            checks["kafka"] = await _probe(_tcp_reachable(self.settings.kafka_brokers))
        extra = getattr(self, "extra_health", None)
        if extra is not None:
            checks.update(await extra())
        if checks["database"] != "healthy" or checks.get("infrastructure") == "unhealthy":
            status = "unhealthy"
        elif any(v not in ("healthy", "disabled") for v in checks.values()) or not self.supervisor.healthy:
            status = "degraded"
        else:
            status = "healthy"
        return {
            "status": status,
            "version": self.version,
            "timestamp": int(time.time() * 1000),
            "checks": {**checks, "tasks": self.supervisor.report()},
            "registered_services": self.registry.figures()["services"],
        }


async def _probe(awaitable: Any, timeout: float = 2.0) -> str:
    try:
        await asyncio.wait_for(awaitable, timeout)
    except Exception as exc:
        log.debug("health probe failed: %s", exc)
        return "unhealthy"
    return "healthy"


async def _tcp_reachable(brokers: str) -> None:
    """Succeeds when any broker accepts a TCP connection."""
    last: Exception | None = None
    for broker in brokers.split(","):
        host, _, port = broker.strip().rpartition(":")
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except OSError as exc:
            last = exc
            continue
        writer.close()
        return
    raise ConnectionError(str(last))

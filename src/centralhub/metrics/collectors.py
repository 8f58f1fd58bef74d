"""Prometheus metrics of the hub process: import a metric and record on it.

Everything lives in one module-level :data:`REGISTRY` (not prometheus_client's global one), so
tests that build several apps in one process never hit "duplicated timeseries". Figures that
already exist on the hub (instances by status, bus publish failures, deployments) are not
copied into metrics as they change: :class:`HubCollector` reads them when Prometheus scrapes.

A metric recorded per service carries a ``tenant`` label too, so two tenants' services of the
same name never add up into one series; an empty ``tenant`` marks the global (infrastructure)
alerts.

Usage from other modules::

    from centralhub.metrics import collectors as metrics
    metrics.CONFIG_CHANGES.labels(tenant="default", service="trading-engine").inc()
    metrics.ALERTS_SENT.labels(channel="webhook", severity="critical", tenant="default").inc()
    metrics.CHECK_LATENCY.labels(check_type="http").observe(0.012)
    metrics.BUS_PUBLISH_FAILURES.labels(subject_root="config").inc()
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from centralhub.metrics.resources import ResourceFigures

#: every metric the hub records; scraped by ``GET /metrics``
REGISTRY = CollectorRegistry(auto_describe=True)

# HTTP buckets tuned for a coordination API: most answers take well under 5 ms
_HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_CHECK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpStats(Collector):
    """Request counts and latency histograms kept in plain dicts, exported at scrape time.

    ``record`` runs on every request, including the discovery hot path; prometheus_client's
    labelled children take a lock per update, while this is a few dict and list operations.
    The hub serves from one event loop per process, so no lock is needed.
    """

    def __init__(self, buckets: tuple[float, ...] = _HTTP_BUCKETS) -> None:
        self.buckets = buckets
        self.counts: dict[tuple[str, str, int], int] = {}
        #: (method, route) -> per-bucket counts (last one is +Inf), then the sum of seconds
        self.histograms: dict[tuple[str, str], list[float]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        hist = self.histograms.get((method, route))
        if hist is None:
            hist = self.histograms[(method, route)] = [0.0] * (len(self.buckets) + 2)
        hist[bisect_left(self.buckets, seconds)] += 1
        hist[-1] += seconds

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "centralhub_http_requests",
            "HTTP requests answered, by route template and status code.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self.counts.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "centralhub_http_request_duration_seconds",
            "Time from request start to the last response byte, by route template.",
            labels=["method", "route"],
        )
        for (method, route), hist in sorted(self.histograms.items()):
            cumulative, running = [], 0.0
            for le, n in zip((*self.buckets, float("inf")), hist[:-1], strict=True):
                running += n
                cumulative.append((floatToGoString(le), running))
            latency.add_metric([method, route], cumulative, sum_value=hist[-1])
        yield latency


#: recorded by ``server/middleware_metrics.py``
HTTP_STATS = HttpStats()
REGISTRY.register(HTTP_STATS)

CHECK_LATENCY = Histogram(
    "centralhub_health_check_duration_seconds",
    "Duration of one active health check (http, tcp, redis, ...).",
    ["check_type"],
    buckets=_CHECK_BUCKETS,
    registry=REGISTRY,
)
CONFIG_CHANGES = Counter(
    "centralhub_config_changes",
    "Configuration versions written, by tenant and service.",
    ["tenant", "service"],
    registry=REGISTRY,
)
ALERTS_SENT = Counter(
    "centralhub_alerts_sent",
    "Alerts delivered, by channel, severity and tenant (empty: global infrastructure alerts).",
    ["channel", "severity", "tenant"],
    registry=REGISTRY,
)
BUS_PUBLISH_FAILURES = Counter(
    "centralhub_bus_publish_failures_by_subject",
    "Events a caller failed to publish, by first subject token; the bus-wide total is "
    "centralhub_bus_publish_failures_total.",
    ["subject_root"],
    registry=REGISTRY,
)
DEPLOYMENT_BATCHES = Counter(
    "centralhub_deployment_batches",
    "Deployment batches finished, by outcome (done, failed).",
    ["outcome"],
    registry=REGISTRY,
)


class HubCollector(Collector):
    """Scrape-time figures of one hub: read on demand, so nothing has to keep them current."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        figures = self.hub.registry.figures()
        by_status = GaugeMetricFamily(
            "centralhub_instances", "Registered instances by status.", labels=["status"]
        )
        for status, count in figures["instances_by_status"].items():
            by_status.add_metric([status], count)
        yield by_status
        yield GaugeMetricFamily(
            "centralhub_services", "Services with at least one instance.", value=figures["services"]
        )
        yield CounterMetricFamily(
            "centralhub_bus_publish_failures",
            "Events the event bus could not hand to its transport.",
            value=self.hub.bus.publish_failures,
        )
        yield GaugeMetricFamily(
            "centralhub_bus_connected",
            "1 when the event bus is connected.",
            value=int(self.hub.bus.connected),
        )
        drift = getattr(self.hub, "config_drift", None)
        if drift is not None:
            drifted = GaugeMetricFamily(
                "centralhub_config_drift_instances",
                "Instances on an older configuration revision (or failing to apply the current one) "
                "for longer than the drift time.",
                labels=["tenant", "service"],
            )
            for (tenant, service), count in sorted(drift.drifted.items()):
                drifted.add_metric([tenant, service], count)
            yield drifted
        nats_beats = getattr(self.hub, "nats_heartbeats", None)
        over_nats = nats_beats.applied if nats_beats is not None else 0
        by_transport = CounterMetricFamily(
            "centralhub_heartbeats", "Heartbeats applied, by how they arrived.", labels=["transport"]
        )
        by_transport.add_metric(["http"], self.hub.registry.heartbeats - over_nats)
        by_transport.add_metric(["nats"], over_nats)
        yield by_transport
        if nats_beats is not None:
            refused = CounterMetricFamily(
                "centralhub_heartbeat_messages_rejected",
                "Heartbeat messages (NATS) refused, by the reason the sender is told.",
                labels=["reason"],
            )
            for reason, count in sorted(nats_beats.rejected.items()):
                refused.add_metric([reason], count)
            yield refused
        checker = getattr(self.hub, "health_checker", None)
        if checker is not None and isinstance(getattr(checker, "probes", None), int):
            yield CounterMetricFamily(
                "centralhub_health_probes", "Active health probes run by this hub.", value=checker.probes
            )
        deployments = getattr(self.hub, "deployments", None)
        if deployments is not None:
            by_state = GaugeMetricFamily(
                "centralhub_deployments", "Deployments known to this hub, by state.", labels=["state"]
            )
            for state, count in deployments.counts().items():
                by_state.add_metric([state], count)
            yield by_state


def exposition(hub: Any) -> bytes:
    """The text exposition of :data:`REGISTRY` plus ``hub``'s scrape-time figures."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(HubCollector(hub))
    scrape.register(ResourceFigures(hub))
    return generate_latest(REGISTRY) + generate_latest(scrape)


def summary(hub: Any) -> dict[str, Any]:
    """A JSON-friendly digest of the same figures (``GET /api/v1/metrics``)."""
    requests: dict[str, dict[str, Any]] = {}
    for family in REGISTRY.collect():
        if family.name == "centralhub_http_requests":
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                key = f"{sample.labels['method']} {sample.labels['route']}"
                entry = requests.setdefault(key, {"count": 0, "by_status": {}})
                entry["count"] += int(sample.value)
                entry["by_status"][sample.labels["status"]] = int(sample.value)
        elif family.name == "centralhub_http_request_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    key = f"{sample.labels['method']} {sample.labels['route']}"
                    requests.setdefault(key, {"count": 0, "by_status": {}})["seconds_total"] = sample.value
    for entry in requests.values():
        if entry["count"] and "seconds_total" in entry:
            entry["mean_ms"] = round(entry.pop("seconds_total") / entry["count"] * 1000, 3)
        else:
            entry.pop("seconds_total", None)
    figures = hub.registry.figures()
    doc: dict[str, Any] = {
        "services": figures["services"],
        "instances": figures["instances"],
        "instances_by_status": figures["instances_by_status"],
        "bus": {
            "name": hub.bus.name,
            "connected": hub.bus.connected,
            "publish_failures": hub.bus.publish_failures,
        },
        "http": {"requests_total": sum(e["count"] for e in requests.values()), "routes": requests},
        "config_changes": _counter_total("centralhub_config_changes"),
        "alerts_sent": _counter_total("centralhub_alerts_sent"),
        "health_checks": _histogram_count("centralhub_health_check_duration_seconds"),
    }
    deployments = getattr(hub, "deployments", None)
    if deployments is not None:
        doc["deployments"] = deployments.counts()
    return doc


def _counter_total(name: str) -> int:
    total = 0.0
    for family in REGISTRY.collect():
        if family.name == name:
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


def _histogram_count(name: str) -> int:
    total = 0.0
    for family in REGISTRY.collect():
        if family.name == name:
            total += sum(s.value for s in family.samples if s.name.endswith("_count"))
    return int(total)

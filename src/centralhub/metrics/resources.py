"""The hub's own resources at scrape time: its database connection pool, how often its read
caches answer, and how many items wait in its queues. Read on demand from the objects that hold
them, so nothing has to keep the figures current."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ResourceFigures"]


def _pool(hub: Any) -> dict[str, float]:
    pool = hub.database.engine.sync_engine.pool
    figures: dict[str, float] = {}
    for state, method in (
        ("size", "size"),
        ("in_use", "checkedout"),
        ("idle", "checkedin"),
        ("overflow", "overflow"),
    ):
        reader = getattr(pool, method, None)
        if callable(reader):
            try:
                figures[state] = float(reader())
            except Exception:  # a pool kind without that figure (SQLite's)
                continue
    return figures


def _queues(hub: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    events = getattr(getattr(hub, "events", None), "_queue", None)
    if events is not None:
        out["domain_events"] = events.qsize()
    alerts = getattr(getattr(hub, "alerts", None), "_queue", None)
    if alerts is not None:
        out["alert_delivery"] = alerts.qsize()
    writes = getattr(getattr(hub, "config_service", None), "_queue", None)
    if writes is not None:
        out["config_writes"] = writes.pending()
    stream = getattr(hub, "events_stream", None)
    if stream is not None:
        out["event_stream_clients"] = stream.subscribers()
    return out


class ResourceFigures(Collector):
    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        pool = GaugeMetricFamily(
            "centralhub_db_pool_connections",
            "The hub's database connection pool: size, in use, idle, overflow.",
            labels=["state"],
        )
        for state, value in sorted(_pool(self.hub).items()):
            pool.add_metric([state], value)
        yield pool
        lookups = CounterMetricFamily(
            "centralhub_cache_lookups",
            "Answers looked up in the hub's read caches, by cache and outcome (hit, miss).",
            labels=["cache", "outcome"],
        )
        ratio = GaugeMetricFamily(
            "centralhub_cache_hit_ratio", "Share of lookups a read cache answered.", labels=["cache"]
        )
        for cache, (hits, misses) in sorted(self._caches().items()):
            lookups.add_metric([cache, "hit"], hits)
            lookups.add_metric([cache, "miss"], misses)
            ratio.add_metric([cache], hits / (hits + misses) if hits + misses else 0.0)
        yield lookups
        yield ratio
        depth = GaugeMetricFamily(
            "centralhub_queue_depth", "Items waiting in the hub's queues.", labels=["queue"]
        )
        for queue, value in sorted(_queues(self.hub).items()):
            depth.add_metric([queue], value)
        yield depth

    def _caches(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        current = getattr(getattr(self.hub, "config_service", None), "current", None)
        if current is not None:
            out["config_reads"] = (current.hits, current.misses)
        return out

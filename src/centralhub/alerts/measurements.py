"""Measurements the alert rules look at: what services report with their heartbeats
(``{"metrics": {"latency_ms": 120, "error_rate": 0.02, "trading_volume": 1500}}``) and each
health check's latency (``check_latency_ms``), kept per instance and metric for the last few
minutes, in this replica's memory.

Each replica keeps what reaches it (the heartbeats it receives, the checks it runs); the alerts
those samples raise are shared between replicas by the alert store's dedup, so a condition seen
by two replicas is one alert.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["CHECK_LATENCY", "Measurements"]

CHECK_LATENCY = "check_latency_ms"
#: samples kept per (instance, metric)
KEEP = 240
#: the oldest sample looked at
HORIZON_SECONDS = 900.0
#: series kept at most (instances x metrics): a bound, so reports cannot grow memory without end
MAX_SERIES = 200_000

Series = tuple[str, str, str, str]  # (tenant, service, instance, metric)


class Measurements:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._series: dict[Series, deque[tuple[float, float]]] = {}
        self.samples = 0

    def record(self, tenant: str, service: str, instance: str, metrics: Mapping[str, float]) -> None:
        now = self.clock()
        for metric, value in metrics.items():
            key = (tenant, service, instance, metric)
            series = self._series.get(key)
            if series is None:
                if len(self._series) >= MAX_SERIES:
                    self.prune()
                    if len(self._series) >= MAX_SERIES:
                        continue
                series = self._series[key] = deque(maxlen=KEEP)
            series.append((now, float(value)))
            self.samples += 1

    def forget(self, tenant: str, service: str, instance: str) -> None:
        """An instance left: its samples no longer speak for the service."""
        for key in [k for k in self._series if k[:3] == (tenant, service, instance)]:
            del self._series[key]

    def prune(self) -> None:
        cutoff = self.clock() - HORIZON_SECONDS
        for key in [k for k, s in self._series.items() if not s or s[-1][0] < cutoff]:
            del self._series[key]

    def series(
        self, tenant: str, service: str, metric: str, since: float
    ) -> Iterator[tuple[str, list[tuple[float, float]]]]:
        """Each instance of ``service`` (``*``: every service) that reported ``metric`` since
        ``since``: (``service/instance``, its samples since then)."""
        for (t, s, i, m), samples in self._series.items():
            if t != tenant or m != metric or (service != "*" and s != service):
                continue
            recent = [p for p in samples if p[0] >= since]
            if recent:
                yield f"{s}/{i}", recent

    def latest(self, tenant: str, service: str | None = None) -> list[dict[str, Any]]:
        """The newest sample of every series of the tenant (of one service), for the API."""
        out = []
        for (t, s, i, m), samples in sorted(self._series.items()):
            if t == tenant and (service is None or s == service) and samples:
                at, value = samples[-1]
                out.append({"service": s, "instance_id": i, "metric": m, "value": value, "at": at})
        return out

"""What a ``BaseService`` reports with its heartbeats for the hub's alert rules: request latency
and error rate since the last report, running totals of requests and errors, and its errors as
ErrorDNA clusters them (``errors.<category>`` counts and ``error_clusters``, the number of
distinct fingerprints), so a rule on the hub sees an error spike and which kind of error grows.

Errors are requests answered 5xx and exceptions a route let escape; each escaped exception is
analysed by the service's :class:`~centralhub.kit.error_dna.ErrorDNA` before the answer goes out.
The request middleware that feeds ``/metrics`` feeds these too (one timing per request).
"""

from __future__ import annotations

from centralhub.kit.error_dna import ErrorDNA

__all__ = ["ServiceFigures"]


class ServiceFigures:
    def __init__(self) -> None:
        self.error_dna = ErrorDNA()
        self.requests = 0
        self.errors = 0
        self._window_count = 0
        self._window_errors = 0
        self._window_seconds = 0.0

    def record(self, seconds: float, *, failed: bool) -> None:
        self.requests += 1
        self._window_count += 1
        self._window_seconds += seconds
        if failed:
            self.errors += 1
            self._window_errors += 1

    def snapshot(self) -> dict[str, float]:
        """The figures for the next heartbeat; the latency and error rate cover the requests
        since the previous snapshot (none: no latency, a rate of 0)."""
        figures: dict[str, float] = {
            "requests": float(self.requests),
            "errors": float(self.errors),
            "error_rate": self._window_errors / self._window_count if self._window_count else 0.0,
        }
        if self._window_count:
            figures["latency_ms"] = round(self._window_seconds / self._window_count * 1000, 3)
        clusters = self.error_dna.clusters()
        figures["error_clusters"] = float(len(clusters))
        by_category: dict[str, int] = {}
        for cluster in clusters:
            category = cluster.category.value.lower()
            by_category[category] = by_category.get(category, 0) + cluster.count
        for category, count in by_category.items():
            figures[f"errors.{category}"] = float(count)
        self._window_count = self._window_errors = 0
        self._window_seconds = 0.0
        return figures

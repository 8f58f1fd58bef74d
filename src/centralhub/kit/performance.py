"""``PerformanceTracker``: time operations and report count, average and percentiles per name.

``with tracker.measure("op"):`` or ``async with tracker.measure("op"):``. Only the last
``max_samples`` durations per operation feed the percentiles; ``count``, ``errors`` and ``max``
cover every call.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType

__all__ = ["OperationStats", "PerformanceTracker"]


@dataclass(frozen=True)
class OperationStats:
    """Timing summary of one operation, durations in milliseconds."""

    operation: str
    count: int
    errors: int
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


class _Measurement:
    """Context manager (sync and async) that records one duration on exit."""

    __slots__ = ("_tracker", "_operation", "_start", "elapsed_ms")

    def __init__(self, tracker: PerformanceTracker, operation: str) -> None:
        self._tracker = tracker
        self._operation = operation
        self._start = 0.0
        self.elapsed_ms = 0.0

    def __enter__(self) -> _Measurement:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.elapsed_ms = (time.perf_counter() - self._start) * 1000.0
        self._tracker.record(self._operation, self.elapsed_ms, error=exc is not None)

    async def __aenter__(self) -> _Measurement:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class PerformanceTracker:
    """Per-operation latency statistics for one service (thread-safe)."""

    def __init__(self, service_name: str = "", *, max_samples: int = 10_000) -> None:
        if max_samples < 1:
            raise ValueError(f"PerformanceTracker max_samples must be >= 1, got {max_samples}")
        self.service_name = service_name
        self.max_samples = max_samples
        self._samples: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._max: dict[str, float] = {}
        self._lock = threading.Lock()

    def measure(self, operation: str) -> _Measurement:
        """Time the enclosed block as ``operation`` (failed blocks count as errors too)."""
        if not operation:
            raise ValueError("PerformanceTracker.measure needs a non-empty operation name")
        return _Measurement(self, operation)

    def record(self, operation: str, duration_ms: float, *, error: bool = False) -> None:
        """Add one externally measured duration."""
        if duration_ms < 0:
            raise ValueError(f"duration_ms must be >= 0, got {duration_ms}")
        with self._lock:
            samples = self._samples.get(operation)
            if samples is None:
                samples = self._samples[operation] = deque(maxlen=self.max_samples)
            samples.append(duration_ms)
            self._counts[operation] = self._counts.get(operation, 0) + 1
            self._errors[operation] = self._errors.get(operation, 0) + int(error)
            self._max[operation] = max(self._max.get(operation, 0.0), duration_ms)

    def stats(self, operation: str) -> OperationStats:
        """Statistics for ``operation``; ``KeyError`` naming it if it was never measured."""
        with self._lock:
            samples = sorted(self._samples.get(operation, ()))
            if not samples:
                raise KeyError(f"no measurements for operation {operation!r}")
            return OperationStats(
                operation=operation,
                count=self._counts[operation],
                errors=self._errors[operation],
                avg_ms=sum(samples) / len(samples),
                p50_ms=_percentile(samples, 50),
                p95_ms=_percentile(samples, 95),
                p99_ms=_percentile(samples, 99),
                max_ms=self._max[operation],
                min_ms=samples[0],
            )

    def all_stats(self) -> dict[str, OperationStats]:
        with self._lock:
            names = list(self._samples)
        return {name: self.stats(name) for name in names}

    def reset(self, operation: str | None = None) -> None:
        """Forget one operation's measurements, or all of them."""
        with self._lock:
            for table in (self._samples, self._counts, self._errors, self._max):
                if operation is None:
                    table.clear()
                else:
                    table.pop(operation, None)

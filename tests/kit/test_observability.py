"""Structured JSON logging, PerformanceTracker, StandardResponse and the exception hierarchy."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

import centralhub.kit as kit
from centralhub.kit import (
    BaseServiceError,
    PerformanceTracker,
    ServiceNotFound,
    StandardResponse,
    configure_logging,
    correlation_scope,
    get_logger,
)


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    configure_logging("WARNING", json=True)
    logging.getLogger().handlers = []


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_log_lines_carry_correlation_id(log_stream: io.StringIO) -> None:
    log = get_logger("orders")
    with correlation_scope("req-77"):
        log.info("order placed", order_id="ORD-1")
    log.debug("outside")
    first, second = lines(log_stream)
    assert first["event"] == "order placed" and first["order_id"] == "ORD-1"
    assert first["correlation_id"] == "req-77" and first["level"] == "info"
    assert first["logger"] == "orders" and "timestamp" in first
    assert "correlation_id" not in second


def test_stdlib_logging_and_exceptions_get_error_dna(log_stream: io.StringIO) -> None:
    with correlation_scope("req-9"):
        try:
            raise ConnectionRefusedError("connect to 127.0.0.1:5432 refused")
        except ConnectionRefusedError:
            logging.getLogger("lib").exception("db down")
    (record,) = lines(log_stream)
    assert record["event"] == "db down" and record["correlation_id"] == "req-9"
    assert record["error_category"] == "CONNECTION_ERROR"
    assert len(str(record["error_fingerprint"])) == 16
    assert "ConnectionRefusedError" in str(record["exception"])


def test_unknown_level_is_named() -> None:
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging("LOUD")


async def test_performance_tracker_sync_and_async() -> None:
    tracker = PerformanceTracker(service_name="api-gateway")
    for ms in range(1, 101):
        tracker.record("db", float(ms))
    stats = tracker.stats("db")
    assert (stats.count, stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms) == (
        100,
        50.0,
        95.0,
        99.0,
        100.0,
    )
    assert stats.avg_ms == pytest.approx(50.5)

    with tracker.measure("ws"):
        pass
    async with tracker.measure("ws"):
        await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError), tracker.measure("ws"):
        raise RuntimeError("x")
    ws = tracker.stats("ws")
    assert ws.count == 3 and ws.errors == 1
    assert ws.max_ms >= 10 * 0.5  # the sleep was timed (loose bound: shared machine)
    assert set(tracker.all_stats()) == {"db", "ws"}
    with pytest.raises(KeyError, match="never"):
        tracker.stats("never")


def test_standard_response_and_errors() -> None:
    with correlation_scope("abc-123"):
        ok = StandardResponse.ok({"users": []}, processing_time_ms=45.2)
    assert ok.to_dict() == {
        "success": True,
        "data": {"users": []},
        "error_message": None,
        "error_code": None,
        "processing_time_ms": 45.2,
        "correlation_id": "abc-123",
        "metadata": {},
    }
    err = StandardResponse.from_exception(ServiceNotFound("no service 'x'", details={"name": "x"}))
    assert not err.success and err.error_code == "SERVICE_NOT_FOUND"
    assert err.metadata == {"details": {"name": "x"}}
    assert StandardResponse.from_exception(ValueError("v")).error_code == "INTERNAL_ERROR"


def test_exception_hierarchy_matches_the_documented_one() -> None:
    expected = {
        "ServiceRegistryError": ["ServiceNotFound", "ServiceAlreadyRegistered", "RegistrationFailed"],
        "DiscoveryError": ["DiscoveryTimeout", "NoHealthyInstances", "ServiceUnavailable"],
        "ConfigurationError": ["ConfigNotFound", "ConfigValidationError", "ConfigLoadError"],
        "CoordinationError": ["WorkflowFailed", "CircularDependency", "DependencyUnavailable"],
        "InfrastructureError": ["InfrastructureUnavailable", "HealthCheckFailed", "ConnectionFailed"],
        "DataManagerError": [
            "DatabaseConnectionError",
            "QueryTimeoutError",
            "QueryExecutionError",
            "CacheError",
            "ValidationError",
        ],
    }
    for parent_name, children in expected.items():
        parent = getattr(kit, parent_name)
        assert issubclass(parent, BaseServiceError)
        for child in children:
            assert issubclass(getattr(kit, child), parent), child
    error = ServiceNotFound("no such service")
    assert error.to_dict() == {"error": "no such service", "code": "SERVICE_NOT_FOUND", "details": {}}
    assert ServiceNotFound.http_status == 404


def test_kit_exports_cache() -> None:
    assert kit.MultiLevelCache.__module__ == "centralhub.kit.cache"

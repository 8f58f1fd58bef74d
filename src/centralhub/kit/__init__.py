"""Resilience and observability kit shared by every Central Hub service.

Circuit breakers, connection retry, the standard response and exception hierarchy,
correlation-id tracing, structured logging, performance tracking, ErrorDNA and the
two-level cache, all importable from ``centralhub.kit``.
"""

from centralhub.kit.cache import MultiLevelCache
from centralhub.kit.circuit_breaker import (
    CircuitBreaker,
    CircuitBreakerManager,
    CircuitOpenError,
    CircuitState,
)
from centralhub.kit.error_dna import ErrorCategory, ErrorCluster, ErrorDNA, ErrorPattern
from centralhub.kit.exceptions import (
    BaseServiceError,
    CacheError,
    CircularDependency,
    ConfigLoadError,
    ConfigNotFound,
    ConfigurationError,
    ConfigValidationError,
    ConnectionFailed,
    CoordinationError,
    DatabaseConnectionError,
    DataManagerError,
    DependencyUnavailable,
    DiscoveryError,
    DiscoveryTimeout,
    HealthCheckFailed,
    InfrastructureError,
    InfrastructureUnavailable,
    NoHealthyInstances,
    QueryExecutionError,
    QueryTimeoutError,
    RegistrationFailed,
    ServiceAlreadyRegistered,
    ServiceNotFound,
    ServiceRegistryError,
    ServiceUnavailable,
    ValidationError,
    WorkflowFailed,
)
from centralhub.kit.logging import configure_logging, get_logger
from centralhub.kit.performance import OperationStats, PerformanceTracker
from centralhub.kit.responses import StandardResponse
from centralhub.kit.retry import backoff_delays, connect_with_retry
from centralhub.kit.tracing import (
    CORRELATION_HEADER,
    CorrelationIdMiddleware,
    RequestTracer,
    Span,
    async_correlation_hook,
    correlation_headers,
    correlation_hook,
    correlation_scope,
    get_correlation_id,
    new_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)

#: built on the SDK's store backends, which import the SDK: loaded on first use, so importing
#: the kit never imports the SDK (the SDK imports the kit)
_LAZY = {
    "CacheConfig": "centralhub.kit.cache_manager",
    "CacheManager": "centralhub.kit.cache_manager",
    "DatabaseConfig": "centralhub.kit.database_manager",
    "DatabaseManager": "centralhub.kit.database_manager",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'centralhub.kit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CORRELATION_HEADER",
    "CacheConfig",
    "CacheManager",
    "DatabaseConfig",
    "DatabaseManager",
    "BaseServiceError",
    "CacheError",
    "CircuitBreaker",
    "CircuitBreakerManager",
    "CircuitOpenError",
    "CircuitState",
    "CircularDependency",
    "ConfigLoadError",
    "ConfigNotFound",
    "ConfigValidationError",
    "ConfigurationError",
    "ConnectionFailed",
    "CoordinationError",
    "CorrelationIdMiddleware",
    "DataManagerError",
    "DatabaseConnectionError",
    "DependencyUnavailable",
    "DiscoveryError",
    "DiscoveryTimeout",
    "ErrorCategory",
    "ErrorCluster",
    "ErrorDNA",
    "ErrorPattern",
    "HealthCheckFailed",
    "InfrastructureError",
    "InfrastructureUnavailable",
    "MultiLevelCache",
    "NoHealthyInstances",
    "OperationStats",
    "PerformanceTracker",
    "QueryExecutionError",
    "QueryTimeoutError",
    "RegistrationFailed",
    "RequestTracer",
    "ServiceAlreadyRegistered",
    "ServiceNotFound",
    "ServiceRegistryError",
    "ServiceUnavailable",
    "Span",
    "StandardResponse",
    "ValidationError",
    "WorkflowFailed",
    "async_correlation_hook",
    "backoff_delays",
    "configure_logging",
    "connect_with_retry",
    "correlation_headers",
    "correlation_hook",
    "correlation_scope",
    "get_correlation_id",
    "get_logger",
    "new_correlation_id",
    "reset_correlation_id",
    "set_correlation_id",
]

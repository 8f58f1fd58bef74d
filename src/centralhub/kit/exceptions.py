"""The shared exception hierarchy every Central Hub service raises.

Every error carries a stable machine-readable ``code`` (``SERVICE_NOT_FOUND``) beside the human
message, plus free-form ``details``; :meth:`BaseServiceError.to_dict` is what an API returns.
:class:`BaseServiceError` derives from :class:`centralhub.core.errors.CentralHubError`, the one
root of every Central Hub error, so the HTTP status of each class lives in the same table
(``http_status`` in a class body records it there; :func:`~centralhub.core.errors.status_for`
reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from centralhub.core.errors import CentralHubError

__all__ = [
    "BaseServiceError",
    "CacheError",
    "CircularDependency",
    "ConfigLoadError",
    "ConfigNotFound",
    "ConfigValidationError",
    "ConfigurationError",
    "ConnectionFailed",
    "CoordinationError",
    "DataManagerError",
    "DatabaseConnectionError",
    "DependencyUnavailable",
    "DiscoveryError",
    "DiscoveryTimeout",
    "HealthCheckFailed",
    "InfrastructureError",
    "InfrastructureUnavailable",
    "NoHealthyInstances",
    "QueryExecutionError",
    "QueryTimeoutError",
    "RegistrationFailed",
    "ServiceAlreadyRegistered",
    "ServiceNotFound",
    "ServiceRegistryError",
    "ServiceUnavailable",
    "ValidationError",
    "WorkflowFailed",
]


class BaseServiceError(CentralHubError):
    """Root of every error a service raises on purpose.

    ``code`` defaults to the class's ``default_code``; ``details`` is a JSON-able dict.
    """

    default_code: ClassVar[str] = "SERVICE_ERROR"
    http_status = 500
    details: dict[str, Any]

    def __init__(
        self, message: str = "", *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code or self.default_code, details=dict(details or {}))

    def to_dict(self) -> dict[str, Any]:
        """The error as an API body: ``{"error": ..., "code": ..., "details": ...}``."""
        return {"error": self.message, "code": self.code, "details": self.details}


# --- service registry -------------------------------------------------------------------------
class ServiceRegistryError(BaseServiceError):
    default_code = "SERVICE_REGISTRY_ERROR"


class ServiceNotFound(ServiceRegistryError):
    default_code = "SERVICE_NOT_FOUND"
    http_status = 404


class ServiceAlreadyRegistered(ServiceRegistryError):
    default_code = "SERVICE_ALREADY_REGISTERED"
    http_status = 409


class RegistrationFailed(ServiceRegistryError):
    default_code = "REGISTRATION_FAILED"


# --- discovery --------------------------------------------------------------------------------
class DiscoveryError(BaseServiceError):
    default_code = "DISCOVERY_ERROR"


class DiscoveryTimeout(DiscoveryError):
    default_code = "DISCOVERY_TIMEOUT"
    http_status = 504


class NoHealthyInstances(DiscoveryError):
    default_code = "NO_HEALTHY_INSTANCES"
    http_status = 503


class ServiceUnavailable(DiscoveryError):
    default_code = "SERVICE_UNAVAILABLE"
    http_status = 503


# --- configuration ----------------------------------------------------------------------------
class ConfigurationError(BaseServiceError):
    default_code = "CONFIGURATION_ERROR"


class ConfigNotFound(ConfigurationError):
    default_code = "CONFIG_NOT_FOUND"
    http_status = 404


class ConfigValidationError(ConfigurationError):
    default_code = "CONFIG_VALIDATION_ERROR"
    http_status = 422


class ConfigLoadError(ConfigurationError):
    default_code = "CONFIG_LOAD_ERROR"


# --- coordination -----------------------------------------------------------------------------
class CoordinationError(BaseServiceError):
    default_code = "COORDINATION_ERROR"


class WorkflowFailed(CoordinationError):
    default_code = "WORKFLOW_FAILED"


class CircularDependency(CoordinationError):
    default_code = "CIRCULAR_DEPENDENCY"
    http_status = 409


class DependencyUnavailable(CoordinationError):
    default_code = "DEPENDENCY_UNAVAILABLE"
    http_status = 503


# --- infrastructure ---------------------------------------------------------------------------
class InfrastructureError(BaseServiceError):
    default_code = "INFRASTRUCTURE_ERROR"


class InfrastructureUnavailable(InfrastructureError):
    default_code = "INFRASTRUCTURE_UNAVAILABLE"
    http_status = 503


class HealthCheckFailed(InfrastructureError):
    default_code = "HEALTH_CHECK_FAILED"
    http_status = 503


class ConnectionFailed(InfrastructureError):
    default_code = "CONNECTION_FAILED"
    http_status = 503


# --- data manager -----------------------------------------------------------------------------
class DataManagerError(BaseServiceError):
    default_code = "DATA_MANAGER_ERROR"


class DatabaseConnectionError(DataManagerError):
    default_code = "DB_CONNECTION_ERROR"
    http_status = 503


class QueryTimeoutError(DataManagerError):
    default_code = "QUERY_TIMEOUT"
    http_status = 504


class QueryExecutionError(DataManagerError):
    default_code = "QUERY_EXECUTION_ERROR"


class CacheError(DataManagerError):
    default_code = "CACHE_ERROR"


class ValidationError(DataManagerError, ValueError):
    """Input data failed validation; also a ``ValueError``, so either ``except`` catches it.

    ``errors`` lists every problem found, not just the first. Built from a message
    (``ValidationError("bad tick")``) or from the list
    (``ValidationError(["bid: must be > 0", ...], "tick")``, message ``"invalid tick: ..."``).
    """

    default_code = "VALIDATION_ERROR"
    http_status = 422

    def __init__(
        self,
        errors: str | Sequence[str] = "",
        what: str = "data",
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(errors, str):
            self.errors: list[str] = [errors] if errors else []
            message = errors
        else:
            self.errors = list(errors)
            summary = "; ".join(self.errors[:5])
            more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            message = f"invalid {what}: {summary}{more}"
        if details is None and not isinstance(errors, str):
            details = {"errors": self.errors}
        super().__init__(message, code=code, details=details)

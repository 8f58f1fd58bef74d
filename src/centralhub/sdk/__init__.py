"""Central Hub SDK: what services import to talk to the hub and to each other.

Names are imported lazily so that ``import centralhub.sdk`` stays cheap and a service that only
needs the config client does not pay for messaging or FastAPI imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from centralhub.sdk.base_service import BaseService, ServiceConfig
    from centralhub.sdk.client import CentralHubClient, HubUnavailable
    from centralhub.sdk.config_client import ConfigClient
    from centralhub.sdk.config_reports import ConfigRefused
    from centralhub.sdk.connection import HubAuthError
    from centralhub.sdk.contracts import ContractConflict, ContractValidator, ContractViolation

_EXPORTS = {
    "CentralHubClient": "centralhub.sdk.client",
    "ConfigClient": "centralhub.sdk.config_client",
    "ConfigRefused": "centralhub.sdk.config_reports",
    "BaseService": "centralhub.sdk.base_service",
    "ServiceConfig": "centralhub.sdk.base_service",
    "HubUnavailable": "centralhub.sdk.client",
    "HubAuthError": "centralhub.sdk.connection",
    "ContractValidator": "centralhub.sdk.contracts",
    "ContractViolation": "centralhub.sdk.contracts",
    "ContractConflict": "centralhub.sdk.contracts",
}

__all__ = [
    "BaseService",
    "CentralHubClient",
    "ConfigClient",
    "ConfigRefused",
    "ContractConflict",
    "ContractValidator",
    "ContractViolation",
    "HubAuthError",
    "HubUnavailable",
    "ServiceConfig",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'centralhub.sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

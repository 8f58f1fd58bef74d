"""Every store a service uses behind one router: ``DatabaseRouter``, ``DatabaseHealthChecker``,
``SchemaMigrator``, one backend per store on that store's maintained client."""

from centralhub.sdk.database.base import Backend, MissingClient, StoreUnavailable
from centralhub.sdk.database.config import StoreConfig
from centralhub.sdk.database.health import DatabaseHealthChecker
from centralhub.sdk.database.migrator import SchemaMigrator
from centralhub.sdk.database.router import DATA_ROUTES, DatabaseRouter
from centralhub.sdk.database.schema_items import SchemaItem

__all__ = [
    "DATA_ROUTES",
    "Backend",
    "DatabaseHealthChecker",
    "DatabaseRouter",
    "MissingClient",
    "SchemaItem",
    "SchemaMigrator",
    "StoreConfig",
    "StoreUnavailable",
]

"""What every store backend offers the router, the health checker and the migrator.

A backend opens its client in :meth:`Backend.connect` and closes it in :meth:`Backend.close`;
:meth:`Backend.ping` is one cheap round trip (the health check); :meth:`Backend.apply_schema`
creates what a schema names if it is not there yet, so running it twice changes nothing.
Each backend adds the operations its store is for (SQL for PostgreSQL and ClickHouse, keys
for DragonflyDB, documents for MongoDB and ArangoDB, objects for Weaviate).
"""

from __future__ import annotations

import abc
from typing import Any

from centralhub.sdk.database.config import StoreConfig

__all__ = ["Backend", "MissingClient", "StoreUnavailable"]


class StoreUnavailable(Exception):
    """A store could not be reached or refused the request."""


class MissingClient(ImportError):
    """The store's client library is not installed (``pip install centralhub[stores]``)."""

    def __init__(self, kind: str, package: str) -> None:
        super().__init__(f"the {kind} backend needs {package!r}: pip install 'centralhub[stores]'")


class Backend(abc.ABC):
    #: what a schema is for this store: "sql" statements, or "objects" (collections, classes)
    schema_form: str = "sql"

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.name = config.name
        self.kind = config.kind
        self.connected = False

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> dict[str, Any]:
        """One round trip; raises when the store does not answer. Returns what it said (version)."""

    @abc.abstractmethod
    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        """Create what ``items`` describe unless present; one ``{"name", "action"}`` per item
        (``created``, ``unchanged``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.config.where}>"

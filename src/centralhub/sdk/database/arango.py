"""ArangoDB for graphs and documents, on python-arango (a synchronous client: its calls run in
a worker thread so the event loop never waits on the network).

A schema item describes a collection: ``{"name": "symbols", "edge": false, "indexes":
[{"type": "persistent", "fields": ["symbol"], "unique": true}]}``; a missing database is created
through ``_system`` when the user may.
"""

from __future__ import annotations

import asyncio
from typing import Any

from centralhub.sdk.database.base import Backend, MissingClient, StoreUnavailable
from centralhub.sdk.database.schema_items import items_of

__all__ = ["ArangoBackend"]


class ArangoBackend(Backend):
    schema_form = "objects"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._client: Any = None
        self.db: Any = None

    async def connect(self) -> None:
        try:
            from arango import ArangoClient
        except ImportError as exc:
            raise MissingClient("ArangoDB", "python-arango") from exc
        c = self.config
        hosts = c.url or f"http://{c.host}:{c.port}"
        name, user, password = c.database or "_system", c.user or "root", c.password or ""

        def open_db() -> tuple[Any, Any]:
            client = ArangoClient(hosts=hosts, request_timeout=float(c.options.get("timeout", 10)))
            if name != "_system":
                system = client.db("_system", username=user, password=password)
                if not system.has_database(name):
                    system.create_database(name)
            db = client.db(name, username=user, password=password, verify=True)
            return client, db

        try:
            self._client, self.db = await asyncio.to_thread(open_db)
        except Exception as exc:
            raise StoreUnavailable(f"{self.name} at {c.where}: {exc}") from exc
        self.connected = True

    async def close(self) -> None:
        client, self._client, self.db = self._client, None, None
        self.connected = False
        if client is not None:
            await asyncio.to_thread(client.close)

    def _db(self) -> Any:
        if self.db is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        return self.db

    async def ping(self) -> dict[str, Any]:
        return {"version": await asyncio.to_thread(self._db().version)}

    async def aql(self, query: str, bind_vars: dict[str, Any] | None = None) -> list[Any]:
        """Run an AQL query; its results as a list."""
        db = self._db()
        return await asyncio.to_thread(lambda: list(db.aql.execute(query, bind_vars=bind_vars or {})))

    async def insert(self, collection: str, document: dict[str, Any]) -> dict[str, Any]:
        db = self._db()
        return dict(await asyncio.to_thread(lambda: db.collection(collection).insert(document)))

    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        db = self._db()

        def apply() -> list[dict[str, Any]]:
            done = []
            for item in items_of(items):
                spec = item.body if isinstance(item.body, dict) else {}
                created = not db.has_collection(item.name)
                if created:
                    db.create_collection(item.name, edge=bool(spec.get("edge", False)))
                collection = db.collection(item.name)
                present = {tuple(i.get("fields", [])) for i in collection.indexes()}
                for index in spec.get("indexes", []):
                    if tuple(index.get("fields", [])) not in present:
                        collection.add_index(dict(index))
                        created = True
                done.append({"name": item.name, "action": "created" if created else "unchanged"})
            return done

        return await asyncio.to_thread(apply)

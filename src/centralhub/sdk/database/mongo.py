"""MongoDB for documents, on PyMongo's asyncio API (``AsyncMongoClient``, PyMongo 4.9+).

A schema item describes a collection and its indexes: ``{"name": "news", "indexes":
[{"keys": [["published_at", -1]], "unique": false}]}``; creating an index that exists changes
nothing, so applying twice is safe.
"""

from __future__ import annotations

from typing import Any

from centralhub.sdk.database.base import Backend, MissingClient, StoreUnavailable
from centralhub.sdk.database.schema_items import items_of

__all__ = ["MongoBackend"]


class MongoBackend(Backend):
    schema_form = "objects"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.client: Any = None
        self.db: Any = None

    async def connect(self) -> None:
        try:
            from pymongo import AsyncMongoClient
        except ImportError as exc:
            raise MissingClient("MongoDB", "pymongo>=4.9") from exc
        c = self.config
        timeout_ms = int(float(c.options.get("timeout", 10)) * 1000)
        client: Any
        if c.url:
            client = AsyncMongoClient(c.url, serverSelectionTimeoutMS=timeout_ms)
        else:
            client = AsyncMongoClient(
                host=c.host,
                port=c.port,
                username=c.user,
                password=c.password,
                serverSelectionTimeoutMS=timeout_ms,
            )
        try:
            await client.admin.command("ping")
        except Exception as exc:
            await client.close()
            raise StoreUnavailable(f"{self.name} at {c.where}: {exc}") from exc
        self.client = client
        self.db = client[c.database or "centralhub"]
        self.connected = True

    async def close(self) -> None:
        client, self.client, self.db = self.client, None, None
        self.connected = False
        if client is not None:
            await client.close()

    def _db(self) -> Any:
        if self.db is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        return self.db

    async def ping(self) -> dict[str, Any]:
        info = await self.client.server_info() if self.client is not None else {}
        return {"version": info.get("version")}

    async def insert(self, collection: str, document: dict[str, Any]) -> Any:
        return (await self._db()[collection].insert_one(document)).inserted_id

    async def find(self, collection: str, query: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
        return [doc async for doc in self._db()[collection].find(query).limit(limit)]

    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        db = self._db()
        present = set(await db.list_collection_names())
        done = []
        for item in items_of(items):
            spec = item.body if isinstance(item.body, dict) else {}
            created = item.name not in present
            if created:
                await db.create_collection(item.name)
            known = await db[item.name].index_information()
            for index in spec.get("indexes", []):
                keys = [(str(k), int(d)) for k, d in index["keys"]]
                name = index.get("name") or "_".join(f"{k}_{d}" for k, d in keys)
                if name not in known:
                    await db[item.name].create_index(keys, name=name, unique=bool(index.get("unique", False)))
                    created = True
            done.append({"name": item.name, "action": "created" if created else "unchanged"})
        return done

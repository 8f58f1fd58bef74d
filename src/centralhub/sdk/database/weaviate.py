"""Weaviate for vectors, on weaviate-client's async API (v4.7+: ``WeaviateAsyncClient``).

A schema item is a collection definition in Weaviate's own JSON form (``{"class": "News",
"properties": [...], "vectorizer": "none"}``, named by ``name``); a collection that exists is
left as it is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from centralhub.sdk.database.base import Backend, MissingClient, StoreUnavailable
from centralhub.sdk.database.schema_items import items_of

__all__ = ["WeaviateBackend"]


class WeaviateBackend(Backend):
    schema_form = "objects"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.client: Any = None

    async def connect(self) -> None:
        try:
            import weaviate
        except ImportError as exc:
            raise MissingClient("Weaviate", "weaviate-client>=4.7") from exc
        c = self.config
        host, port, secure = c.host, c.port or 8080, False
        if c.url:
            parts = urlsplit(c.url)
            host, port, secure = parts.hostname or host, parts.port or port, parts.scheme == "https"
        grpc_port = int(c.options.get("grpc_port", 50051))
        auth = weaviate.auth.AuthApiKey(c.password) if c.password else None
        client = weaviate.use_async_with_custom(
            http_host=host,
            http_port=port,
            http_secure=secure,
            grpc_host=host,
            grpc_port=grpc_port,
            grpc_secure=secure,
            auth_credentials=auth,
        )
        try:
            await client.connect()
        except Exception as exc:
            raise StoreUnavailable(f"{self.name} at {c.where}: {exc}") from exc
        self.client = client
        self.connected = True

    async def close(self) -> None:
        client, self.client = self.client, None
        self.connected = False
        if client is not None:
            await client.close()

    def _client(self) -> Any:
        if self.client is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        return self.client

    async def ping(self) -> dict[str, Any]:
        meta = await self._client().get_meta()
        return {"version": meta.get("version")}

    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        client = self._client()
        done = []
        for item in items_of(items):
            if await client.collections.exists(item.name):
                done.append({"name": item.name, "action": "unchanged"})
                continue
            definition = dict(item.body) if isinstance(item.body, dict) else {}
            definition.setdefault("class", item.name)
            await client.collections.create_from_dict(definition)
            done.append({"name": item.name, "action": "created"})
        return done

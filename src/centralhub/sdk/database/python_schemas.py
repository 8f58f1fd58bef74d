"""The schemas the SDK ships for each store, used by ``SchemaMigrator(use_python_schemas=True)``.

The time-series and analytics tables are the market data layer's own (ticks, candles, economic
events: :mod:`centralhub.market.schemas`), so a service migrating through the router gets the
same tables the market helpers read. The graph, vector and document stores get the collections
the platform keeps there: instruments and their correlations (a graph), market news (vectors,
embedded by the service: no vectorizer), and economic calendar documents.
"""

from __future__ import annotations

from typing import Any

from centralhub.market.schemas import (
    generate_clickhouse_sql,
    generate_full_schema_sql,
    get_clickhouse_schemas,
    get_timescale_schemas,
)
from centralhub.sdk.database.schema_items import SchemaItem

__all__ = ["python_schemas"]

ARANGO_COLLECTIONS: list[dict[str, Any]] = [
    {"name": "instruments", "indexes": [{"type": "persistent", "fields": ["symbol"], "unique": True}]},
    {"name": "correlations", "edge": True, "indexes": [{"type": "persistent", "fields": ["window"]}]},
]
WEAVIATE_CLASSES: list[dict[str, Any]] = [
    {
        "name": "MarketNews",
        "vectorizer": "none",
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "body", "dataType": ["text"]},
            {"name": "symbols", "dataType": ["text[]"]},
            {"name": "published_at", "dataType": ["date"]},
        ],
    }
]
MONGO_COLLECTIONS: list[dict[str, Any]] = [
    {"name": "economic_calendar", "indexes": [{"keys": [["event_time", -1]]}, {"keys": [["currency", 1]]}]},
]


def python_schemas(kind: str, *, timescale: bool = False, database: str | None = None) -> list[SchemaItem]:
    """The shipped schema items for a backend ``kind``; ``timescale``: the PostgreSQL database
    has the extension, so the tables become hypertables."""
    if kind == "postgresql":
        return [
            SchemaItem(s["name"], generate_full_schema_sql(s, timescale=timescale))
            for s in get_timescale_schemas()
        ]
    if kind == "clickhouse":
        return [
            SchemaItem(s["name"], generate_clickhouse_sql(s, database=database))
            for s in get_clickhouse_schemas()
        ]
    if kind == "arangodb":
        return [
            SchemaItem(c["name"], {k: v for k, v in c.items() if k != "name"}) for c in ARANGO_COLLECTIONS
        ]
    if kind == "weaviate":
        return [SchemaItem(c["name"], {k: v for k, v in c.items() if k != "name"}) for c in WEAVIATE_CLASSES]
    if kind == "mongodb":
        return [SchemaItem(c["name"], {k: v for k, v in c.items() if k != "name"}) for c in MONGO_COLLECTIONS]
    return []

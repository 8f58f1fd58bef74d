"""A schema item as the backends take it: a name and what creates it, with a checksum so a
store can tell an item it already applied from a changed one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SchemaItem", "items_of"]


@dataclass(frozen=True, slots=True)
class SchemaItem:
    name: str
    #: SQL text (PostgreSQL, ClickHouse) or a description (collections, classes, indexes)
    body: Any

    @property
    def checksum(self) -> str:
        raw = self.body if isinstance(self.body, str) else json.dumps(self.body, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def items_of(raw: list[Any]) -> list[SchemaItem]:
    """``raw`` entries as items: ``SchemaItem``, ``{"name", "sql"|"body"|...}`` or bare SQL."""
    out = []
    for n, entry in enumerate(raw):
        if isinstance(entry, SchemaItem):
            out.append(entry)
        elif isinstance(entry, str):
            out.append(SchemaItem(f"statement-{n + 1}", entry))
        elif isinstance(entry, dict) and "name" in entry:
            body = entry.get("sql", entry.get("body", {k: v for k, v in entry.items() if k != "name"}))
            out.append(SchemaItem(str(entry["name"]), body))
        else:
            raise ValueError(f"schema entry {n + 1}: a SQL string or an object with a name is required")
    return out

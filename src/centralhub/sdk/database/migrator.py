"""``SchemaMigrator(router, schema_base_path=... | use_python_schemas=True)``: every store's
schema created in one call, safe to run at every start.

From files, each store reads ``<schema_base_path>/<store name>/`` (or ``<kind>/``): ``*.sql``
for PostgreSQL and ClickHouse (statements split at a ``;`` that ends a line, applied in file
order), ``*.json``/``*.yaml`` for ArangoDB, Weaviate and MongoDB (a list of items with a
``name``, or a mapping of name to definition). With ``use_python_schemas`` each store gets the
schemas the SDK ships (:mod:`centralhub.sdk.database.python_schemas`). Each backend records or
checks what it applied, so a second run reports every item ``unchanged``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from centralhub.sdk.database.python_schemas import python_schemas
from centralhub.sdk.database.router import DatabaseRouter
from centralhub.sdk.database.schema_items import SchemaItem

__all__ = ["SchemaMigrator"]

log = logging.getLogger(__name__)
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


def split_sql(text: str) -> list[str]:
    """Statements of a SQL file: split at a ``;`` that ends a line."""
    return [s.strip() for s in _STATEMENT_END.split(text) if s.strip() and not _only_comments(s)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


class SchemaMigrator:
    def __init__(
        self,
        router: DatabaseRouter,
        schema_base_path: str | Path | None = None,
        *,
        use_python_schemas: bool = False,
    ) -> None:
        if schema_base_path is None and not use_python_schemas:
            raise ValueError("SchemaMigrator needs schema_base_path or use_python_schemas=True")
        self.router = router
        self.base = Path(schema_base_path) if schema_base_path is not None else None
        self.use_python_schemas = use_python_schemas

    async def items_for(self, name: str) -> list[SchemaItem]:
        backend = self.router.get(name)
        items: list[SchemaItem] = []
        if self.use_python_schemas:
            timescale = False
            if backend.kind == "postgresql":
                timescale = bool(
                    await backend.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")  # type: ignore[attr-defined]
                )
            items += python_schemas(backend.kind, timescale=timescale, database=backend.config.database)
        if self.base is not None:
            items += self._from_files(name, backend.kind, backend.schema_form)
        return items

    def _from_files(self, name: str, kind: str, form: str) -> list[SchemaItem]:
        assert self.base is not None
        folder = next((p for p in (self.base / name, self.base / kind) if p.is_dir()), None)
        if folder is None:
            return []
        items: list[SchemaItem] = []
        if form == "sql":
            for path in sorted(folder.glob("*.sql")):
                statements = split_sql(path.read_text(encoding="utf-8"))
                for n, sql in enumerate(statements, start=1):
                    label = path.stem if len(statements) == 1 else f"{path.stem}#{n}"
                    items.append(SchemaItem(label, sql))
        elif form == "objects":
            for path in sorted([*folder.glob("*.json"), *folder.glob("*.yaml"), *folder.glob("*.yml")]):
                text = path.read_text(encoding="utf-8")
                data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
                entries = (
                    data if isinstance(data, list) else [{"name": k, **v} for k, v in (data or {}).items()]
                )
                for entry in entries:
                    if not isinstance(entry, dict) or "name" not in entry:
                        raise ValueError(f"{path}: every item needs a name")
                    items.append(
                        SchemaItem(str(entry["name"]), {k: v for k, v in entry.items() if k != "name"})
                    )
        return items

    async def initialize_all_schemas(self) -> dict[str, Any]:
        """Apply every store's schemas; per store the items and what happened to each, or why
        the store was skipped (not connected) or failed."""
        report: dict[str, Any] = {}
        for name, backend in self.router.stores.items():
            if not backend.connected:
                report[name] = {
                    "kind": backend.kind,
                    "skipped": self.router.errors.get(name, "not connected"),
                }
                continue
            try:
                items = await self.items_for(name)
                applied = await backend.apply_schema(items) if items else []
            except Exception as exc:
                log.error("schemas of %s not applied: %s", name, exc)
                report[name] = {"kind": backend.kind, "error": f"{type(exc).__name__}: {exc}"}
                continue
            report[name] = {"kind": backend.kind, "applied": applied}
        return report

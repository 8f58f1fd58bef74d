"""CopyUpsert: store a batch of binary COPY rows, upserting when keys already exist.

Market data is nearly always new, so the first try is one ``COPY`` straight into the table: a
single statement, all-or-nothing by itself, and as fast as PostgreSQL loads rows. When a key is
already stored that COPY fails with a unique violation having written nothing, and the batch
goes the merge way instead: ``COPY`` into a temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` into the table, in one transaction; a row
whose stored values are already the same is left as it is.

After a conflict, the next batches merge directly for a while: a replay usually goes on for
many batches, and each failed COPY costs the rows it loaded before failing plus an error line
in the server log.

The binary rows carry each value in its staging-table type's wire format. A table whose
columns have other types (prices in an older ``DECIMAL`` table, say) cannot read them, so it is
always written the merge way, where ``INSERT ... SELECT`` casts; this is checked once, against
the catalog, on the first write.

Rows must come in primary-key order with one row per key (see :mod:`batch_rows`); the merge
sorts again with the same byte-wise collation, so both ways take row locks in one global
order and concurrent writers of the same keys queue rather than deadlock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from centralhub.market.copy_binary import copy_payload
from centralhub.market.schemas import qualified_name

__all__ = ["CopyUpsert"]

logger = logging.getLogger(__name__)

# Staging type → table column types (as format_type names them) with the same binary format.
_SAME_WIRE_FORMAT = {
    "timestamptz": {"timestamp with time zone"},
    "float8": {"double precision"},
    "int4": {"integer"},
    "text": {"text", "character varying"},
}


class CopyUpsert:
    """Writes rows of ``columns`` into ``db_schema.table``, last write winning per ``key``.

    ``types`` gives each column's type in the staging table (any mapping covering ``columns``).
    """

    def __init__(
        self,
        *,
        db_schema: str,
        table: str,
        columns: Sequence[str],
        types: Mapping[str, str],
        key: Sequence[str],
        merge_batches_after_conflict: int = 32,
    ) -> None:
        # The DDL leaves names unquoted, so PostgreSQL folded them to lower case; COPY quotes
        # the names it is given, so it must be given the folded ones.
        self.db_schema = db_schema.lower()
        self.table = table.lower()
        self.columns = list(columns)
        self.types = {c: types[c] for c in columns}
        self.merge_batches_after_conflict = merge_batches_after_conflict
        self._merges_left = 0
        self._direct: bool | None = None  # may rows be COPYed into the table itself? (unknown)
        target = self.target = qualified_name(table, db_schema)
        # One staging table per target and connection; temporary tables live in the session,
        # so a pooled connection keeps reusing its own, emptied at each commit.
        self.stage = f"copy_stage_{hashlib.sha1(target.encode()).hexdigest()[:12]}"
        col_list = ", ".join(columns)
        self._create_stage = (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.stage} "
            f"({', '.join(f'{c} {types[c]}' for c in columns)}) "
            "ON COMMIT DELETE ROWS"
        )
        # Python orders str by code point; COLLATE "C" is the same order for the ASCII keys
        # validation allows, whatever the database's default collation.
        order = ", ".join(f'{c} COLLATE "C"' if types[c] == "text" else c for c in key)
        values = [c for c in columns if c not in key]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
        # A replay resends rows unchanged: leave those rows alone (the conflict still locks
        # them) instead of writing a new version of each with its index entries.
        changed = (
            f"({', '.join(f'{target}.{c}' for c in values)}) IS DISTINCT FROM "
            f"({', '.join(f'EXCLUDED.{c}' for c in values)})"
        )
        self._merge = (
            f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {self.stage} "
            f"ORDER BY {order} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {changed}"
        )

    async def write(self, conn: Any, rows: Sequence[bytes], *, timeout: float) -> None:
        """Store binary COPY ``rows`` (:mod:`copy_binary`) all-or-nothing; raises asyncpg errors."""
        # A memoryview: asyncpg would take bytes for a file path.
        payload = memoryview(copy_payload(rows))
        if self._direct is None:
            self._direct = await self._table_reads_our_rows(conn, timeout)
        if self._direct is not False and self._merges_left == 0:
            try:
                await conn.copy_to_table(
                    self.table, source=payload, schema_name=self.db_schema, columns=self.columns,
                    format="binary", timeout=timeout,
                )  # fmt: skip
                return
            except asyncpg.UniqueViolationError:
                self._merges_left = self.merge_batches_after_conflict
        else:
            self._merges_left -= 1
        await self.merge(conn, payload, timeout=timeout)

    async def _table_reads_our_rows(self, conn: Any, timeout: float) -> bool | None:
        """Whether every column's type reads our binary values; None while the table is missing."""
        rows = await conn.fetch(
            "SELECT attname, format_type(atttypid, NULL) AS type FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            self.target,
            timeout=timeout,
        )
        if not rows:
            return None
        found = {r["attname"]: r["type"] for r in rows}
        odd = [c for c in self.columns if found.get(c) not in _SAME_WIRE_FORMAT[self.types[c]]]
        if odd:
            logger.warning(
                "%s: column(s) %s are not of the expected types (%s); writing every batch through "
                "a staging table, which is slower than COPY into the table",
                self.target, ", ".join(f"{c} {found.get(c)}" for c in odd),
                ", ".join(f"{c} {self.types[c]}" for c in odd),
            )  # fmt: skip
        return not odd

    async def merge(self, conn: Any, payload: memoryview, *, timeout: float) -> None:
        """Stage a COPY ``payload`` and upsert it in one transaction (the path for stored keys)."""
        async with conn.transaction():
            await conn.execute(self._create_stage, timeout=timeout)
            await conn.copy_to_table(
                self.stage, source=payload, columns=self.columns, format="binary", timeout=timeout
            )
            await conn.execute(self._merge, timeout=timeout)

"""Export the hub's stored state as one backup document, and restore one into a hub.

The export reads every section in one transaction (a consistent snapshot). A restore checks the
whole document first, then writes every section in one transaction: a failure anywhere leaves
the hub as it was. Afterwards the running hub's in-memory views (registry, contract flags,
silences, configuration watchers) are brought up to date and the other replicas are told
through the usual events, so the restored state is served at once without a restart.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub import __version__
from centralhub.backup.schemas import (
    DATA_SECTIONS,
    FORMAT,
    SECTIONS,
    VERSION,
    InvalidBackup,
    RestoreResult,
    encode_row,
    format_time,
    read_document,
)
from centralhub.config import repository as config_repository
from centralhub.config.broadcast import publish_change
from centralhub.core.errors import Conflict
from centralhub.core.tables import api_keys
from centralhub.core.time import to_datetime

if TYPE_CHECKING:
    from centralhub.hub import Hub

log = logging.getLogger(__name__)
Rows = dict[str, list[dict[str, Any]]]


class BackupService:
    """``hub``-wide backup and restore (every tenant): the admin API and the CLI use it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    # ---------------------------------------------------------------- export
    def alert_rules(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(rule) for rule in self.hub.alerts.rules]

    async def export(self) -> dict[str, Any]:
        """The backup document: every section, read in one transaction."""
        engine = self.hub.database.engine
        document: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": format_time(to_datetime(time.time())),
            "hub_version": __version__,
            "alert_rules": self.alert_rules(),
        }
        async with engine.connect() as conn:
            if not self.hub.database.is_sqlite:
                # one snapshot for every section, so the file never mixes before and after a write
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                for section in SECTIONS:
                    order = [section.table.c[c] for c in section.order]
                    rows = (await conn.execute(select(section.table).order_by(*order))).all()
                    document[section.name] = [encode_row(section, r) for r in rows]
        document["counts"] = {s.name: len(document[s.name]) for s in SECTIONS}
        await self.hub.audit.record("backup.create", "backup", details=document["counts"])
        return document

    # ---------------------------------------------------------------- restore
    async def restore(self, document: Any, *, replace: bool = False) -> RestoreResult:
        """Write a backup into this hub in one transaction.

        Without ``replace`` the hub must hold no data (registrations, configuration, schemas,
        contracts, alerts, silences): 409 otherwise. API keys already here are kept; a backup
        key with the name of one of them must be that same key (same hash), else 409. With
        ``replace`` the data is replaced and backup keys overwrite keys of the same name."""
        rows = read_document(document)
        kept: list[str] = []
        try:
            async with self.hub.database.engine.begin() as conn:
                if replace:
                    for section in DATA_SECTIONS:
                        await conn.execute(delete(section.table))
                else:
                    await self._require_empty(conn)
                key_rows = await self._keys_to_write(conn, rows["api_keys"], replace=replace, kept=kept)
                for section in SECTIONS:
                    batch = key_rows if section.name == "api_keys" else rows[section.name]
                    if batch:
                        await conn.execute(insert(section.table), batch)
                counts = {s.name: len(rows[s.name]) for s in SECTIONS}
                counts["api_keys"] = len(key_rows)
                await self.hub.audit.record(
                    "backup.restore",
                    "backup",
                    details={"replace": replace, "restored": counts, "kept_keys": kept},
                    conn=conn,
                )
        except IntegrityError as exc:
            # e.g. two instances on one endpoint: the file contradicts the schema's unique rules
            raise InvalidBackup(f"the backup breaks a uniqueness rule of the database: {exc.orig}") from None
        except DataError as exc:
            raise InvalidBackup(f"the database refuses a value of the backup: {exc.orig}") from None
        await self._refresh_views(rows, replaced_keys=[r["name"] for r in key_rows])
        return RestoreResult(
            replaced=replace,
            restored=counts,
            kept_keys=kept,
            alert_rules_match=document.get("alert_rules") == self.alert_rules(),
            source_created_at=document.get("created_at")
            if isinstance(document.get("created_at"), str)
            else None,
        )

    async def _require_empty(self, conn: AsyncConnection) -> None:
        held = {}
        for section in DATA_SECTIONS:
            count = int(await conn.scalar(select(func.count()).select_from(section.table)) or 0)
            if count:
                held[section.name] = count
        if held:
            what = ", ".join(f"{n} {name}" for name, n in held.items())
            raise Conflict(
                f"this hub is not empty ({what}); restore into an empty hub, "
                "or replace its data with replace=true (CLI: --replace)"
            )

    async def _keys_to_write(
        self, conn: AsyncConnection, keys: list[dict[str, Any]], *, replace: bool, kept: list[str]
    ) -> list[dict[str, Any]]:
        """The backup keys to insert. A key already here (same name and hash) is kept as it is;
        another key under a backup key's name or hash is refused (409), or dropped with ``replace``."""
        if not keys:
            return []
        names = [k["name"] for k in keys]
        hashes = [k["key_hash"] for k in keys]
        clash = or_(api_keys.c.name.in_(names), api_keys.c.key_hash.in_(hashes))
        present = {r.name: r.key_hash for r in (await conn.execute(select(api_keys).where(clash))).all()}
        by_hash = {h: n for n, h in present.items()}
        out = []
        for key in keys:
            name, digest = key["name"], key["key_hash"]
            if present.get(name) == digest:
                kept.append(name)
                continue
            if not replace and name in present:
                raise Conflict(f"API key {name!r} exists on this hub with another secret; use replace=true")
            if not replace and digest in by_hash:
                raise Conflict(
                    f"API key {name!r} is the key {by_hash[digest]!r} of this hub under another name"
                )
            out.append(key)
        if out:
            overwritten = or_(
                api_keys.c.name.in_([k["name"] for k in out]),
                api_keys.c.key_hash.in_([k["key_hash"] for k in out]),
            )
            await conn.execute(delete(api_keys).where(overwritten))
        return out

    async def _refresh_views(self, rows: Rows, *, replaced_keys: list[str]) -> None:
        """Bring this replica's memory and the other replicas up to date with what was stored."""
        hub = self.hub
        await hub.registry.reload()
        await hub.contracts.reload()
        await hub.alerts.silence_book.refresh()
        for name in replaced_keys:
            hub.keys.forget(name)
        latest: dict[tuple[str, str], int] = {}
        for row in rows["config_versions"]:
            key = (row["tenant_id"], row["service_name"])
            latest[key] = max(latest.get(key, 0), row["revision"])
        config = hub.config_service
        await config.reload_view()  # reads answer from memory: it must hold what was restored
        for (tenant, service), revision in latest.items():
            config.watcher.advance((tenant, service), revision)
            async with hub.database.engine.connect() as conn:
                version = await config_repository.get_latest(conn, tenant=tenant, service=service)
            if version is not None and not await publish_change(hub.bus, version, origin=config.replica_id):
                log.warning("restored configuration of %s/%s not broadcast", tenant, service)

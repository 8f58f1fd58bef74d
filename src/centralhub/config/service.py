"""The configuration service: versioned documents per (tenant, service), validated, broadcast, watched.

Data path: each operation runs in one transaction (read the current version and the schema,
insert the next version), so a failure anywhere stores nothing. After the commit the service
wakes this replica's ``/watch`` requests, publishes ``config_update_subject(tenant, service)`` on
the bus for other replicas and clients, and emits :class:`ConfigChanged` for in-process consumers
(metrics, dashboard feed), which never delay the write.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from centralhub.audit.service import AuditLog
from centralhub.config import audit_trail, repository
from centralhub.config.audit_trail import AUDIT_ACTIONS as AUDIT_ACTIONS  # kept importable from here
from centralhub.config.broadcast import publish_change
from centralhub.config.current import CurrentVersions
from centralhub.config.documents import (
    SchemaValidator,
    check_label,
    check_message,
    check_schema,
    check_service_name,
    diff,
    parse_revision,
    require_document,
)
from centralhub.config.global_layer import GlobalLayer, check_global_schema
from centralhub.config.hot_reload import HotReloader
from centralhub.config.models import ConfigChanged, ConfigDiff, ConfigVersion, ValidationIssue
from centralhub.config.secrets import SecretBox, SecretUnreadable, mask_change, masked, opaque
from centralhub.config.watch import Key, RevisionWatcher
from centralhub.config.watching import MAX_WATCH_TIMEOUT as MAX_WATCH_TIMEOUT  # kept importable here
from centralhub.config.watching import watch_effective
from centralhub.config.writer import WRITE_ATTEMPTS as WRITE_ATTEMPTS  # kept importable from here
from centralhub.config.writer import DocumentBuilder, WriteQueue
from centralhub.core.database import Database
from centralhub.core.errors import Conflict, InvalidInput, NotFound
from centralhub.core.events.base import EventBus, Subscription
from centralhub.core.events.dispatch import DomainEvents
from centralhub.core.tasks import Supervisor
from centralhub.core.wire import merge_patch
from centralhub.metrics import collectors as metrics

log = logging.getLogger(__name__)

REVISION_CHECK_TASK = "config-revision-check"


async def count_config_change(event: ConfigChanged) -> None:
    """Metrics consumer of :class:`ConfigChanged` (runs off the write path)."""
    metrics.CONFIG_CHANGES.labels(tenant=event.version.tenant_id, service=event.version.service_name).inc()


class ConfigService:
    """Stores, validates, broadcasts and watches service configurations (``hub.config_service``)."""

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        events: DomainEvents,
        supervisor: Supervisor,
        replica_id: str | None = None,
        poll_interval: float = 1.0,
        safety_poll_interval: float = 5.0,
        hot_reload_dir: str | Path = "config/hot-reload",
        hot_reload_enabled: bool = False,
        clock: Callable[[], float] = time.time,
        secret: str | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.database = database
        self.audit = audit
        self.bus = bus
        self.events = events
        self.supervisor = supervisor
        self.replica_id = replica_id or uuid.uuid4().hex[:12]
        self.clock = clock
        self.validator = SchemaValidator()
        #: encrypts ``x-secret`` values with a key from ``CENTRAL_HUB_SECRET``; refuses credentials
        self.secrets = SecretBox(secret)
        self.watcher = RevisionWatcher(
            bus,
            self._latest_revisions,
            poll_interval=poll_interval,
            safety_poll_interval=safety_poll_interval,
            # replicas may share a PostgreSQL database: check every service, not only watched ones
            load_all=None if database.is_sqlite else self._all_revisions,
        )
        #: what reads answer from while the database is unreachable
        self.current = CurrentVersions(self.watcher)
        #: the global document under every service's own
        self.globals = GlobalLayer(self)
        self.hot_reload = HotReloader(
            self, Path(hot_reload_dir), supervisor=supervisor, enabled=hot_reload_enabled
        )
        self._subs: list[Subscription] = []
        #: this replica's writers of one service queue here and are stored in batches
        self._queue = WriteQueue(self)
        self.publish_failures = 0
        self.broadcasts = 0
        #: canary rollouts (set by :class:`~centralhub.config.rollouts.ConfigRollouts`): while
        #: one is active, the service's other writes are refused
        self.rollouts: Any = None
        events.subscribe(ConfigChanged, count_config_change)

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Listen for other replicas' changes, start the revision check and the hot-reload watcher."""
        self.watcher.open()
        self._subs = [
            await self.bus.subscribe("config.update.*", self.watcher.on_bus_event),
            await self.bus.subscribe("tenant.*.config.update.*", self.watcher.on_bus_event),
        ]
        self.supervisor.start(REVISION_CHECK_TASK, self.watcher.poll_revisions)
        await self.reload_view()
        await self.hot_reload.start()

    async def stop(self) -> None:
        """Stop watching files and the bus; held ``watch`` calls return at once (no change)."""
        self.watcher.close()
        await self.hot_reload.stop()
        await self._queue.wait_idle(timeout=10.0)
        await self.supervisor.stop(REVISION_CHECK_TASK)
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []

    async def reload_view(self) -> None:
        """Fill the memory copy with every service's current version (one query at start)."""
        try:
            async with self.database.engine.connect() as conn:
                self.current.replace_all(await repository.get_all_latest(conn))
            self._queue.forget_schema()
        except Exception as exc:
            log.warning("configuration not preloaded into memory: %s", exc)

    # ---------------------------------------------------------------- reads
    async def _latest(self, tenant: str, service: str) -> ConfigVersion | None:
        try:
            async with self.database.engine.connect() as conn:
                current = await repository.get_latest(conn, tenant=tenant, service=service)
        except Exception as exc:
            return self.current.instead_of((tenant, service), exc)
        if current is not None:
            self.current.remember(current)
        return current

    async def _latest_revisions(self, keys: list[Key]) -> dict[Key, int]:
        async with self.database.engine.connect() as conn:
            return await repository.get_latest_revisions(conn, keys=keys)

    async def _all_revisions(self) -> dict[Key, int]:
        async with self.database.engine.connect() as conn:
            return await repository.get_all_latest_revisions(conn)

    async def get(self, tenant: str, service: str) -> ConfigVersion:
        """The effective configuration (the global document under the service's own), as the
        caller may see it; ``NotFound`` when neither is stored."""
        return self.secrets.for_caller(await self.globals.effective(tenant, service))

    async def current_version(self, tenant: str, service: str, *, view: bool = False) -> ConfigVersion:
        """The current version as stored; with ``view``, from memory when it is current there."""
        check_service_name(service)
        current = self.current.fresh((tenant, service)) if view else None
        if current is None:
            current = await self._latest(tenant, service)
        if current is None:
            raise NotFound(f"no configuration stored for service {service!r}")
        self.watcher.advance((tenant, service), current.revision)
        return current

    async def services(self, tenant: str) -> list[str]:
        async with self.database.engine.connect() as conn:
            return await repository.get_service_names(conn, tenant=tenant)

    async def history(
        self, tenant: str, service: str, *, limit: int = 100, before: int | None = None
    ) -> list[ConfigVersion]:
        """Versions newest first; ``NotFound`` when the service has none."""
        check_service_name(service)
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit: must be 1-1000 (got {limit})")
        async with self.database.engine.connect() as conn:
            versions = await repository.get_history(
                conn, tenant=tenant, service=service, limit=limit, before=before
            )
        if not versions and before is None:
            raise NotFound(f"no configuration stored for service {service!r}")
        return [masked(v) for v in versions]

    async def get_version(self, tenant: str, service: str, ref: str) -> ConfigVersion:
        """``ref`` is a version (``1.2.0``), a revision number (``3``) or ``latest``; secrets masked."""
        return masked(await self._stored_version(tenant, service, ref))

    async def _stored_version(self, tenant: str, service: str, ref: str) -> ConfigVersion:
        """A version as stored (secrets encrypted)."""
        check_service_name(service)
        ref = ref.strip()
        if ref in ("latest", "current"):
            current = await self._latest(tenant, service)
            if current is None:
                raise NotFound(f"no configuration stored for service {service!r}")
            return current
        found: ConfigVersion | None = None
        revision = parse_revision(ref)
        if revision is not None or not (ref.isascii() and ref.isdigit()):
            # a digit string that is no revision lies beyond any stored one: nothing to look up
            async with self.database.engine.connect() as conn:
                if revision is not None:
                    found = await repository.get(conn, tenant=tenant, service=service, revision=revision)
                else:
                    found = await repository.get(conn, tenant=tenant, service=service, version=ref)
        if found is None:
            raise NotFound(f"service {service!r} has no configuration version {ref!r}")
        return found

    async def diff(self, tenant: str, service: str, from_ref: str, to_ref: str | None = None) -> ConfigDiff:
        """Leaf changes from one version to another (``to`` defaults to the current one)."""
        old = await self._stored_version(tenant, service, from_ref)
        new = await self._stored_version(tenant, service, to_ref or "latest")
        # an unchanged secret keeps its token, so comparing the stored forms finds real changes only
        changes = [mask_change(c) for c in diff(opaque(old.config), opaque(new.config))]
        return ConfigDiff(service, masked(old), masked(new), changes)

    # ---------------------------------------------------------------- validation and schemas
    def check(self, document: Any, schema: dict[str, Any] | None) -> list[ValidationIssue]:
        """Everything wrong with ``document`` under ``schema`` (none when no schema is registered)."""
        return self.validator.issues(document, schema)

    async def validate(self, tenant: str, service: str, document: Any) -> list[ValidationIssue]:
        """Check ``document`` against the registered schema without storing it."""
        check_service_name(service)
        async with self.database.engine.connect() as conn:
            schema = await repository.get_schema(conn, tenant=tenant, service=service)
        return self.check(document, schema)

    async def get_schema(self, tenant: str, service: str) -> dict[str, Any]:
        check_service_name(service)
        async with self.database.engine.connect() as conn:
            schema = await repository.get_schema(conn, tenant=tenant, service=service)
        if schema is None:
            raise NotFound(f"no schema registered for service {service!r}")
        return schema

    async def set_schema(
        self, tenant: str, service: str, schema: Any, *, author: str
    ) -> list[ValidationIssue]:
        """Register the JSON Schema later changes must satisfy (a broken schema is refused, 400).

        Returns what is wrong with the current version under the new schema: the stored version
        is not changed, but the caller should know it no longer passes."""
        check_service_name(service)
        schema = check_schema(schema)
        check_global_schema(service, schema)
        for _attempt in range(3):
            try:
                async with self.database.engine.begin() as conn:
                    previous = await repository.get_schema(conn, tenant=tenant, service=service)
                    await repository.set_schema(
                        conn, tenant=tenant, service=service, schema=schema, author=author, at=self.clock()
                    )
                    if self.audit is not None:
                        await audit_trail.record_schema(
                            self.audit,
                            conn,
                            tenant=tenant,
                            service=service,
                            before=previous,
                            after=schema,
                            author=author,
                        )
                    current = await repository.get_latest(conn, tenant=tenant, service=service)
            except IntegrityError:
                continue  # a concurrent first registration won: replace it
            finally:
                self._queue.forget_schema((tenant, service))
            return [] if current is None else self._check_stored(current, schema)
        raise Conflict(f"the schema of {service!r} is being registered concurrently; retry")

    # ---------------------------------------------------------------- writes
    async def put(
        self,
        tenant: str,
        service: str,
        document: Any,
        *,
        author: str,
        message: str | None = None,
        if_match: int | None = None,
        source: str = "api",
        rollout_id: str | None = None,
    ) -> ConfigVersion:
        """Store ``document`` as the next version and broadcast it (``rollout_id``: the
        promotion of that rollout, the one write its bake lets through)."""
        document = require_document(document)
        stored = await self._write(
            tenant,
            service,
            lambda _current: document,
            author=author,
            message=message,
            if_match=if_match,
            source=source,
            rollout_id=rollout_id,
        )
        assert stored is not None
        return stored

    async def patch(
        self,
        tenant: str,
        service: str,
        patch: Any,
        *,
        author: str,
        message: str | None = None,
        if_match: int | None = None,
    ) -> ConfigVersion:
        """Apply an RFC 7396 merge patch to the current document (an empty one if none yet)."""
        patch = require_document(patch)
        stored = await self._write(
            tenant,
            service,
            lambda current: merge_patch(current.config if current else {}, patch),
            author=author,
            message=message,
            if_match=if_match,
            source="patch",
        )
        assert stored is not None
        return stored

    async def rollback(
        self,
        tenant: str,
        service: str,
        ref: str,
        *,
        author: str,
        message: str | None = None,
        if_match: int | None = None,
    ) -> tuple[ConfigVersion, ConfigVersion]:
        """Store an old version's document as a new version; returns (new, restored-from)."""
        target = await self._stored_version(tenant, service, ref)
        stored = await self._write(
            tenant,
            service,
            lambda _current: self.secrets.reveal(tenant, service, target.config),
            author=author,
            message=message or f"rollback to {target.version}",
            if_match=if_match,
            source="rollback",
        )
        assert stored is not None
        return stored, masked(target)

    async def put_if_changed(
        self,
        tenant: str,
        service: str,
        document: dict[str, Any],
        *,
        author: str,
        source: str,
        message: str | None = None,
    ) -> ConfigVersion | None:
        """Store ``document`` only when it differs from the current one (hot reload); else ``None``."""
        return await self._write(
            tenant,
            service,
            lambda _current: document,
            author=author,
            message=message,
            source=source,
            skip_unchanged=True,
        )

    async def _write(
        self,
        tenant: str,
        service: str,
        make: DocumentBuilder,
        *,
        author: str,
        message: str | None,
        source: str,
        if_match: int | None = None,
        skip_unchanged: bool = False,
        rollout_id: str | None = None,
    ) -> ConfigVersion | None:
        """One version in one transaction, then the after-commit side effects."""
        check_service_name(service)
        check_message(message)
        held = None if self.rollouts is None else self.rollouts.blocking(tenant, service)
        if held is not None and held.id != rollout_id:
            raise self.rollouts.busy(held)
        author = (check_label(author, "author") or "anonymous")[:255]
        stored = await self._queue.submit(
            tenant,
            service,
            make,
            author=author,
            message=message,
            source=source,
            if_match=if_match,
            skip_unchanged=skip_unchanged,
        )
        return None if stored is None else self.secrets.for_caller(stored)

    def _check_stored(self, version: ConfigVersion, schema: dict[str, Any]) -> list[ValidationIssue]:
        """Issues of a stored version under ``schema``, its secrets checked decrypted (an
        unreadable secret is reported as such, not as a schema break)."""
        try:
            return self.check(self.secrets.opened(version).config, schema)
        except SecretUnreadable as exc:
            return [ValidationIssue("$", exc.message)]

    def audit_view(self, document: Any, schema: dict[str, Any] | None) -> Any:
        """What the audit trail keeps of a document: secret values masked."""
        return audit_trail.audit_view(document, schema)

    async def _committed(self, version: ConfigVersion) -> None:
        """After commit: wake local watchers, broadcast, and hand the change to event consumers."""
        self.current.remember(version)
        broadcast = await self._broadcast(version)
        self.events.emit(ConfigChanged(masked(version), broadcast))

    async def _broadcast(self, version: ConfigVersion) -> bool:
        """Publish the change with secrets masked (see :mod:`centralhub.config.broadcast`) and
        count the outcome; the API compares ``publish_failures`` to say whether it went out."""
        # subscribers get what the service runs: its own version over the global one
        try:
            effective = await self.globals.over(version)
        except Exception as exc:  # the global read failed: send the service's own layer
            log.warning("config change %s not merged with the global one: %s", version.service_name, exc)
            effective = version
        if await publish_change(self.bus, effective, origin=self.replica_id):
            self.broadcasts += 1
            return True
        self.publish_failures += 1
        return False

    # ---------------------------------------------------------------- watching
    async def watch(
        self,
        tenant: str,
        service: str,
        *,
        revision: int,
        timeout: float,
        interrupt: Callable[[], bool] | None = None,
        global_revision: int | None = None,
    ) -> ConfigVersion | None:
        """The effective configuration once the service's revision is newer than ``revision``
        (or, given ``global_revision``, the global one's newer than that); ``None`` on timeout
        (or as soon as ``interrupt()`` is true after a wake-up)."""
        return await watch_effective(
            self,
            tenant,
            service,
            revision=revision,
            timeout=timeout,
            interrupt=interrupt,
            global_revision=global_revision,
        )

"""The configuration service: versioned documents per (tenant, service), validated, broadcast, watched.

Data path: a write commits a new immutable version, then wakes this replica's ``/watch`` requests
and publishes ``config.update.{service}`` (``tenant.{tenant}.config.update.{service}`` for tenants
other than ``default``). Other replicas learn of the change from that event; when the bus is not
carrying events (in-process bus, NATS down, a publish failed) a periodic revision check against
the database wakes their watchers instead, so a change is never lost to a watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from centralhub.config.models import (
    ConfigValidationError,
    ConfigVersion,
    ValidationIssue,
    check_document,
    check_service_name,
    diff,
    merge_patch,
    parse_revision,
    require_document,
    version_for,
)
from centralhub.config.repository import ConfigRepository, RevisionTaken
from centralhub.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from centralhub.core.events.base import EventBus, Subscription
from centralhub.metrics import collectors as metrics

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
MAX_WATCH_TIMEOUT = 300.0
Key = tuple[str, str]


def update_subject(tenant: str, service: str) -> str:
    """The NATS subject a change of ``service`` is broadcast on."""
    if tenant == DEFAULT_TENANT:
        return f"config.update.{service}"
    return f"tenant.{tenant}.config.update.{service}"


def _issues(validator: Any, document: Any) -> list[ValidationIssue]:
    out = []
    for err in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in err.absolute_path) or "$"
        out.append(ValidationIssue(path, err.message))
    return out


class ConfigService:
    """Stores, validates, broadcasts and watches service configurations (``hub.config_service``)."""

    def __init__(
        self,
        repo: ConfigRepository,
        bus: EventBus,
        *,
        replica_id: str | None = None,
        poll_interval: float = 1.0,
        safety_poll_interval: float = 5.0,
        hot_reload_dir: str | Path = "config/hot-reload",
        hot_reload_enabled: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from centralhub.config.hot_reload import HotReloader

        self.repo = repo
        self.bus = bus
        self.replica_id = replica_id or uuid.uuid4().hex[:12]
        self.poll_interval = poll_interval
        self.safety_poll_interval = safety_poll_interval
        self.clock = clock
        self.hot_reload = HotReloader(self, Path(hot_reload_dir), enabled=hot_reload_enabled)
        self._known: dict[Key, int] = {}
        self._signals: dict[Key, asyncio.Event] = {}
        self._watching: Counter[Key] = Counter()
        self._validators: dict[bytes, Any] = {}
        self._subs: list[Subscription] = []
        self._poller: asyncio.Task[None] | None = None
        self._closing = False
        self.publish_failures = 0
        self.broadcasts = 0

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Listen for other replicas' changes, start the revision check and the hot-reload watcher."""
        self._closing = False
        self._subs = [
            await self.bus.subscribe("config.update.*", self._on_event),
            await self.bus.subscribe("tenant.*.config.update.*", self._on_event),
        ]
        self._poller = asyncio.create_task(self._poll_revisions(), name="config-revision-check")
        await self.hot_reload.start()

    async def stop(self) -> None:
        """Stop watching files and the bus; held ``watch`` calls return at once (no change)."""
        self._closing = True
        for event in self._signals.values():
            event.set()
        await self.hot_reload.stop()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []

    # ---------------------------------------------------------------- reads
    async def get(self, tenant: str, service: str) -> ConfigVersion:
        check_service_name(service)
        current = await self.repo.latest(tenant, service)
        if current is None:
            raise NotFound(f"no configuration stored for service {service!r}")
        self._advance((tenant, service), current.revision)
        return current

    async def services(self, tenant: str) -> list[str]:
        return await self.repo.services(tenant)

    async def history(
        self, tenant: str, service: str, *, limit: int = 100, before: int | None = None
    ) -> list[ConfigVersion]:
        """Versions newest first; ``NotFound`` when the service has none."""
        check_service_name(service)
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit: must be 1-1000 (got {limit})")
        versions = await self.repo.history(tenant, service, limit=limit, before=before)
        if not versions and before is None:
            raise NotFound(f"no configuration stored for service {service!r}")
        return versions

    async def get_version(self, tenant: str, service: str, ref: str) -> ConfigVersion:
        """``ref`` is a version (``1.2.0``), a revision number (``3``) or ``latest``."""
        check_service_name(service)
        ref = ref.strip()
        if ref in ("latest", "current"):
            return await self.get(tenant, service)
        revision = parse_revision(ref)
        if revision is not None:
            found = await self.repo.get(tenant, service, revision=revision)
        elif ref.isascii() and ref.isdigit():
            found = None  # a revision number beyond any stored one
        else:
            found = await self.repo.get(tenant, service, version=ref)
        if found is None:
            raise NotFound(f"service {service!r} has no configuration version {ref!r}")
        return found

    async def diff(
        self, tenant: str, service: str, from_ref: str, to_ref: str | None = None
    ) -> dict[str, Any]:
        """Leaf changes from one version to another (``to`` defaults to the current one)."""
        old = await self.get_version(tenant, service, from_ref)
        new = await self.get_version(tenant, service, to_ref or "latest")
        return {
            "service_name": service,
            "from": {"version": old.version, "revision": old.revision},
            "to": {"version": new.version, "revision": new.revision},
            "changes": [c.to_dict() for c in diff(old.config, new.config)],
        }

    # ---------------------------------------------------------------- validation
    def _validator(self, schema: dict[str, Any]) -> Any:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(schema)
            validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
            if len(self._validators) > 256:
                self._validators.clear()
            self._validators[key] = validator
        return validator

    def check(self, document: Any, schema: dict[str, Any] | None) -> list[ValidationIssue]:
        """Everything wrong with ``document`` under ``schema`` (none when no schema is registered)."""
        if not isinstance(document, dict):
            return [
                ValidationIssue("$", f"a configuration must be a JSON object, not {type(document).__name__}")
            ]
        if schema is None:
            return []
        return _issues(self._validator(schema), document)

    async def validate(self, tenant: str, service: str, document: Any) -> list[ValidationIssue]:
        check_service_name(service)
        return self.check(document, await self.repo.get_schema(tenant, service))

    async def get_schema(self, tenant: str, service: str) -> dict[str, Any]:
        check_service_name(service)
        schema = await self.repo.get_schema(tenant, service)
        if schema is None:
            raise NotFound(f"no schema registered for service {service!r}")
        return schema

    async def set_schema(self, tenant: str, service: str, schema: Any, *, author: str) -> dict[str, Any]:
        """Register the JSON Schema later changes must satisfy; a broken schema is refused (400)."""
        check_service_name(service)
        if not isinstance(schema, dict):
            raise InvalidInput(f"schema: must be a JSON object (got {type(schema).__name__})")
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "$"
            raise InvalidInput(f"schema: not a valid JSON Schema at {where}: {exc.message}") from None
        await self.repo.put_schema(tenant, service, schema, author=author, at=self.clock())
        current = await self.repo.latest(tenant, service)
        issues = [] if current is None else self.check(current.config, schema)
        return {
            "service_name": service,
            "status": "success",
            # the stored version is not changed, but the caller should know it no longer passes
            "current_version_valid": not issues,
            "errors": [i.to_dict() for i in issues],
        }

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
    ) -> ConfigVersion:
        """Store ``document`` as the next version and broadcast it."""
        document = require_document(document)
        stored = await self._write(
            tenant,
            service,
            lambda _current: document,
            author=author,
            message=message,
            if_match=if_match,
            source=source,
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
        target = await self.get_version(tenant, service, ref)
        stored = await self._write(
            tenant,
            service,
            lambda _current: target.config,
            author=author,
            message=message or f"rollback to {target.version}",
            if_match=if_match,
            source="rollback",
        )
        assert stored is not None
        return stored, target

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
        make: Callable[[ConfigVersion | None], Any],
        *,
        author: str,
        message: str | None,
        source: str,
        if_match: int | None = None,
        skip_unchanged: bool = False,
    ) -> ConfigVersion | None:
        check_service_name(service)
        if message is not None and len(message) > 2000:
            raise InvalidInput("message: at most 2000 characters")
        author = (author or "anonymous")[:255]

        def build(current: ConfigVersion | None, schema: dict[str, Any] | None) -> ConfigVersion | None:
            current_rev = current.revision if current else 0
            if if_match is not None and if_match != current_rev:
                raise Conflict(
                    f"If-Match: revision {if_match} is stale; the current revision of {service!r} "
                    f"is {current_rev}"
                )
            document = make(current)
            check_document(document, "config")
            if skip_unchanged and current is not None and current.config == document:
                return None
            issues = self.check(document, schema)
            if issues:
                raise ConfigValidationError(
                    f"configuration of {service!r} breaks its schema: "
                    + "; ".join(f"{i.path}: {i.message}" for i in issues[:5]),
                    details=[i.to_dict() for i in issues],
                )
            return ConfigVersion(
                tenant_id=tenant,
                service_name=service,
                revision=current_rev + 1,
                version=version_for(current_rev + 1),
                config=document,
                author=author,
                created_at=self.clock(),
                message=message,
                source=source,
            )

        for _attempt in range(8):
            try:
                stored = await self.repo.append(tenant, service, build)
            except RevisionTaken:
                if if_match is not None:
                    raise Conflict(
                        f"If-Match: revision {if_match} is stale; {service!r} was changed concurrently"
                    ) from None
                continue  # another writer won the race: rebuild on top of its version
            if stored is not None:
                self._advance((tenant, service), stored.revision)
                await self._broadcast(stored)
            return stored
        raise Unavailable(f"configuration of {service!r} is being changed too often; retry")

    async def _broadcast(self, version: ConfigVersion) -> bool:
        metrics.CONFIG_CHANGES.labels(service=version.service_name).inc()
        payload = {
            "service_name": version.service_name,
            "tenant_id": version.tenant_id,
            "version": version.version,
            "revision": version.revision,
            "config": version.config,
            "updated_at": version.updated_at_iso,
            "updated_by": version.author,
            "origin": self.replica_id,
        }
        try:
            await self.bus.publish(update_subject(version.tenant_id, version.service_name), payload)
        except Exception as exc:  # stored already: watchers catch up through the revision check
            self.publish_failures += 1
            log.warning(
                "config change %s/%s r%d not broadcast: %s",
                version.tenant_id,
                version.service_name,
                version.revision,
                exc,
            )
            return False
        self.broadcasts += 1
        return True

    def broadcast_ok(self) -> bool:
        """Whether the bus can carry events right now (used for the API's answer)."""
        return self.bus.connected

    # ---------------------------------------------------------------- watching
    async def _on_event(self, _subject: str, payload: dict[str, Any]) -> None:
        try:
            key = (str(payload["tenant_id"]), str(payload["service_name"]))
            revision = int(payload["revision"])
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring malformed config event %r", payload)
            return
        self._advance(key, revision)

    def _advance(self, key: Key, revision: int) -> None:
        if revision <= self._known.get(key, 0):
            return
        self._known[key] = revision
        event = self._signals.pop(key, None)
        if event is not None:
            event.set()

    def _signal(self, key: Key) -> asyncio.Event:
        event = self._signals.get(key)
        if event is None:
            event = self._signals[key] = asyncio.Event()
        return event

    async def watch(
        self, tenant: str, service: str, *, revision: int, timeout: float
    ) -> ConfigVersion | None:
        """The current version once its revision is newer than ``revision``; ``None`` on timeout."""
        check_service_name(service)
        if revision < 0:
            raise InvalidInput(f"revision: must be 0 or more (got {revision})")
        if not 0 <= timeout <= MAX_WATCH_TIMEOUT:
            raise InvalidInput(f"timeout: must be 0-{MAX_WATCH_TIMEOUT:g} seconds (got {timeout})")
        key = (tenant, service)
        deadline = time.monotonic() + timeout
        self._advance(key, await self.repo.latest_revision(tenant, service))
        self._watching[key] += 1
        try:
            while not self._closing:
                if self._known.get(key, 0) > revision:
                    current = await self.repo.latest(tenant, service)
                    if current is not None and current.revision > revision:
                        return current
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                event = self._signal(key)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await event.wait()
            return None
        finally:
            self._watching[key] -= 1
            if self._watching[key] <= 0:
                del self._watching[key]

    async def _poll_revisions(self) -> None:
        """Wake watchers on changes the bus did not deliver (other replica, failed publish)."""
        last = 0.0
        while True:
            await asyncio.sleep(self.poll_interval)
            if not self._watching:
                continue
            # a healthy shared bus delivers other replicas' changes: only a slow safety net then
            shared_bus_ok = self.bus.name != "memory" and self.bus.connected
            if shared_bus_ok and time.monotonic() - last < self.safety_poll_interval:
                continue
            last = time.monotonic()
            try:
                revisions = await self.repo.latest_revisions(list(self._watching))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("config revision check failed: %s", exc)
                continue
            for key, rev in revisions.items():
                self._advance(key, rev)

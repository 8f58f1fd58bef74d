"""The SDK's discovery cache: what the hub last said about each service, kept current.

``DiscoveryCache`` holds one ``ServiceView`` per service a client asked about, and a background
task refreshes them every few seconds (and at least every ``reconcile_seconds``), or at once when
a NATS registry event of the tenant says something changed. The hub has no blocking query for
discovery, so polling is what bounds staleness when NATS is not in use or loses a message.
NATS is followed only when the hub says it publishes there (``GET /api/v1/info``), under the
hub's cluster name; a NATS reconnect refreshes every view at once. While the hub is unreachable
the views keep their last answer, and ``pick_locally`` applies the hub's own selection rule
(``wire.choose``) to one of them, so a service keeps finding its peers through a hub outage.
With a disk path the answers also survive a restart: a client started while the hub is down
answers from the file (see :meth:`DiscoveryCache.from_disk`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from centralhub.core import wire
from centralhub.kit.exceptions import NoHealthyInstances, ServiceNotFound
from centralhub.sdk.connection import HubAuthError
from centralhub.sdk.hub_link import HubInfo, close_nats, connect_nats, nats_servers, write_json_atomic

__all__ = ["SELECTABLE", "DiscoveryCache", "ServiceView", "check_name", "choose", "pick_locally"]

log = logging.getLogger(__name__)

#: the instance statuses discovery may hand out
SELECTABLE = ("passing", "warning")

#: what ``GET …/endpoint`` answers with, and so what a locally made choice returns
ENDPOINT_KEYS = (
    "instance_id",
    "service_name",
    "host",
    "port",
    "url",
    "weight",
    "load",
    "protocol",
    "status",
    "version",
)


@dataclass(slots=True)
class ServiceView:
    """The last answer the hub gave about one service, and when it was fetched."""

    name: str
    instances: list[dict[str, Any]]
    fetched_at: float
    rr: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def selectable(self) -> list[dict[str, Any]]:
        """Instances discovery may hand out, passing ones first (like the hub does)."""
        ok = [i for i in self.instances if i.get("status") in SELECTABLE]
        passing = [i for i in ok if i.get("status") == "passing"]
        return sorted(passing or ok, key=lambda i: str(i.get("instance_id")))


def check_name(name: str) -> None:
    """A name no service can have is not sent to the hub (it could address another route)."""
    if not wire.is_service_name(name):
        raise ServiceNotFound(f"{name!r} is not a valid service name", details={"service": name})


def choose(view: ServiceView, candidates: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
    """The hub's selection rule applied to the cached view (its turn counter advances)."""
    chosen = wire.choose(
        candidates,
        strategy,
        turn=view.rr,
        load=lambda i: float(i.get("load") or 0.0),
        weight=lambda i: int(i.get("weight", 1)),
    )
    view.rr += 1
    return chosen


def pick_locally(view: ServiceView, strategy: str) -> dict[str, Any]:
    """What ``GET …/endpoint`` would answer, chosen from the cached view (marked ``cached``)."""
    candidates = view.selectable()
    if not candidates:
        raise NoHealthyInstances(f"service {view.name!r} has no healthy instance (cached view)")
    chosen = choose(view, candidates, strategy)
    return {k: chosen.get(k) for k in ENDPOINT_KEYS} | {"cached": True}


class DiscoveryCache:
    """The views of every service asked about, refreshed in the background until ``close()``.

    ``fetch(name)`` asks the hub and stores the answer in ``views``; it raises
    ``ServiceNotFound`` once the service has no instance left. ``read_info()`` asks the hub how
    to follow it (``None`` when it cannot say). ``disk_path`` is where the answers are kept
    between runs (``None``: memory only).
    """

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[ServiceView]],
        *,
        task_name: str,
        read_info: Callable[[], Awaitable[HubInfo | None]] | None = None,
        disk_path: Path | None = None,
    ) -> None:
        self.views: dict[str, ServiceView] = {}
        self._fetch = fetch
        self._read_info = read_info
        self._task_name = task_name
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._follow_changed = False
        #: the NATS connection registry events arrive on (``None`` when polling only)
        self.nats: Any = None
        #: what the hub last said about how to follow it
        self.hub_info: HubInfo | None = None
        self.disk_path = disk_path
        self._disk: dict[str, dict[str, Any]] = self._load_disk()
        self._saved: dict[str, list[tuple[Any, ...]]] | None = None
        self._disk_warned = False
        self._nats_warned = False
        self._closed = False

    @property
    def following(self) -> str:
        """``nats`` while registry events arrive over NATS, else ``polling``."""
        return "nats" if self.nats is not None and self.nats.is_connected else "polling"

    def ensure_running(
        self,
        *,
        refresh_seconds: float,
        nats_url: str | None,
        tenant_id: str,
        reconcile_seconds: float = 30.0,
        follow_nats: bool = True,
    ) -> None:
        """Start the refresher unless it runs already (or the cache was closed)."""
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(
            self._refresh_loop(
                min(refresh_seconds, reconcile_seconds), reconcile_seconds, nats_url, tenant_id, follow_nats
            ),
            name=self._task_name,
        )

    async def close(self) -> None:
        """Stop refreshing and close the NATS connection; the views stay readable."""
        self._closed = True
        await cancel_task(self._task)
        self._task = None
        self.remember()
        nc, self.nats = self.nats, None
        await close_nats(nc)

    # ------------------------------------------------------------------ following
    async def _refresh_loop(
        self,
        interval: float,
        reconcile_seconds: float,
        nats_url: str | None,
        tenant_id: str,
        follow_nats: bool,
    ) -> None:
        checked = -float("inf")
        while True:
            now = time.monotonic()
            due = now - checked >= (reconcile_seconds if self.hub_info is not None else interval)
            if follow_nats and (due or self._follow_changed):
                self._follow_changed = False
                checked = now
                await self._follow_hub(nats_url, tenant_id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            for name in list(self.views):
                try:
                    await self._fetch(name)
                except ServiceNotFound:
                    # every instance is gone: remember that rather than an old answer
                    self.views[name] = ServiceView(name, [], time.monotonic())
                except asyncio.CancelledError:
                    raise
                except HubAuthError as exc:
                    log.warning("refreshing %s failed (keeping the last answer): %s", name, exc)
                    break
                except Exception as exc:
                    log.debug("refreshing %s failed (keeping the last answer): %s", name, exc)
                    break
            self.remember()

    async def _follow_hub(self, nats_url: str | None, tenant_id: str) -> None:
        """Subscribe to registry events when the hub publishes them on NATS, under its cluster
        name; drop the subscription when it no longer does."""
        info = await self._read_info() if self._read_info is not None else None
        if info is not None:
            if self.hub_info is not None and info.cluster != self.hub_info.cluster:
                await self._drop_nats()
            self.hub_info = info
        if info is not None and not info.publishes_on_nats:
            await self._drop_nats()
        elif self.hub_info is not None and self.hub_info.publishes_on_nats and self.nats is None:
            await self._subscribe_registry_events(self.hub_info, nats_url, tenant_id)

    def _on_nats_change(self) -> None:
        # a drop or a return: refresh at once (what changed meanwhile was not pushed)
        self._follow_changed = True
        self._wake.set()

    async def _drop_nats(self) -> None:
        nc, self.nats = self.nats, None
        await close_nats(nc)

    async def _subscribe_registry_events(self, info: HubInfo, nats_url: str | None, tenant_id: str) -> None:
        """Push: any registry event of our tenant wakes the refresher (no waiting for the poll)."""
        servers = nats_servers(nats_url, info)
        try:
            self.nats = await asyncio.wait_for(
                connect_nats(servers, name=self._task_name, on_change=self._on_nats_change), 10
            )
            status_subject = info.subject(wire.registry_subject(tenant_id, "status"))

            async def on_event(msg: Any) -> None:
                with contextlib.suppress(Exception):
                    payload = orjson.loads(msg.data)
                    name = payload.get("service_name") or (payload.get("instance") or {}).get("service_name")
                    if name is None or name in self.views or msg.subject == status_subject:
                        self._wake.set()

            await self.nats.subscribe(info.subject(wire.registry_tenant_filter(tenant_id)), cb=on_event)
            self._nats_warned = False
        except Exception as exc:
            log_at = log.debug if self._nats_warned else log.warning
            log_at("no registry events from %s (%s); refreshing by polling", ",".join(servers), exc)
            self._nats_warned = True
            await self._drop_nats()

    # ------------------------------------------------------------------ disk
    def from_disk(self, name: str) -> ServiceView | None:
        """The answer an earlier run saved for ``name`` (``extra["source"] == "disk"``), if any."""
        entry = self._disk.get(name)
        if entry is None:
            return None
        return ServiceView(
            name,
            [dict(i) for i in entry["instances"]],
            0.0,
            extra={"source": "disk", "saved_at": entry.get("saved_at")},
        )

    def remember(self) -> None:
        """Save the views to disk when what discovery hands out changed (not on every heartbeat)."""
        if self.disk_path is None:
            return
        digest = {
            name: sorted(
                (i.get("instance_id"), i.get("url"), i.get("status"), i.get("weight"), i.get("version"))
                for i in view.instances
            )
            for name, view in self.views.items()
            if view.extra.get("source") != "disk"
        }
        if digest == self._saved or not digest:
            return
        now = time.time()
        for name in digest:
            self._disk[name] = {"instances": self.views[name].instances, "saved_at": now}
        try:
            write_json_atomic(self.disk_path, {"format": 1, "services": self._disk})
        except OSError as exc:
            (log.debug if self._disk_warned else log.warning)(
                "cannot write discovery cache %s: %s", self.disk_path, exc
            )
            self._disk_warned = True
            return
        self._saved = digest

    def _load_disk(self) -> dict[str, dict[str, Any]]:
        if self.disk_path is None or not self.disk_path.exists():
            return {}
        try:
            doc = json.loads(self.disk_path.read_text(encoding="utf-8"))
            services = doc["services"]
            return {
                name: entry
                for name, entry in services.items()
                if wire.is_service_name(name) and isinstance(entry.get("instances"), list)
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring discovery cache %s: %s", self.disk_path, exc)
            return {}


async def cancel_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait for it to end (whatever it raised on the way)."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task

"""The SDK's discovery cache: what the hub last said about each service, kept current.

``DiscoveryCache`` holds one ``ServiceView`` per service a client asked about, and a background
task refreshes them every few seconds, or at once when a NATS registry event of the tenant says
something changed. While the hub is unreachable the views keep their last answer, and
``pick_locally`` applies the hub's own selection rule (``wire.choose``) to one of them, so a
service keeps finding its peers through a hub outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from centralhub.core import wire
from centralhub.kit.exceptions import NoHealthyInstances, ServiceNotFound
from centralhub.sdk.connection import HubAuthError

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
    ``ServiceNotFound`` once the service has no instance left.
    """

    def __init__(self, fetch: Callable[[str], Awaitable[ServiceView]], *, task_name: str) -> None:
        self.views: dict[str, ServiceView] = {}
        self._fetch = fetch
        self._task_name = task_name
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: the NATS connection registry events arrive on (``None`` when polling only)
        self.nats: Any = None
        self._closed = False

    def ensure_running(self, *, refresh_seconds: float, nats_url: str | None, tenant_id: str) -> None:
        """Start the refresher unless it runs already (or the cache was closed)."""
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(
            self._refresh_loop(refresh_seconds, nats_url, tenant_id), name=self._task_name
        )

    async def close(self) -> None:
        """Stop refreshing and close the NATS connection; the views stay readable."""
        self._closed = True
        await cancel_task(self._task)
        self._task = None
        if self.nats is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nats.close(), 5)
            self.nats = None

    async def _refresh_loop(self, refresh_seconds: float, nats_url: str | None, tenant_id: str) -> None:
        if nats_url:
            await self._subscribe_registry_events(nats_url, tenant_id)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(refresh_seconds):
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

    async def _subscribe_registry_events(self, nats_url: str, tenant_id: str) -> None:
        """Push: any registry event of our tenant wakes the refresher (no waiting for the poll)."""
        try:
            import nats

            self.nats = await asyncio.wait_for(
                nats.connect(
                    servers=wire.split_servers(nats_url),
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    allow_reconnect=True,
                ),
                5,
            )

            async def on_event(msg: Any) -> None:
                with contextlib.suppress(Exception):
                    payload = orjson.loads(msg.data)
                    name = payload.get("service_name") or (payload.get("instance") or {}).get("service_name")
                    if name is None or name in self.views or msg.subject == status_subject:
                        self._wake.set()

            cluster = os.environ.get("CENTRAL_HUB_CLUSTER") or wire.DEFAULT_CLUSTER
            status_subject = wire.cluster_subject(cluster, wire.registry_subject(tenant_id, "status"))
            await self.nats.subscribe(
                wire.cluster_subject(cluster, wire.registry_tenant_filter(tenant_id)), cb=on_event
            )
        except Exception as exc:
            log.warning("no registry events from %s (%s); refreshing by polling only", nats_url, exc)
            self.nats = None


async def cancel_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait for it to end (whatever it raised on the way)."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task

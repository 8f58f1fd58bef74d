"""What ``GET /api/v1/events`` streams: every configuration, registry and alert change this
replica hears on the bus (its own and its peers'), in the order it heard them.

Each event gets an id ``<epoch>-<n>``: ``epoch`` names this replica's run, ``n`` counts up. The
last ``keep`` events are kept, so a client that reconnects with ``Last-Event-ID`` gets what it
missed; when that is no longer possible (the id is older than what is kept, or from another
replica or an earlier run) it gets one ``reset`` event instead and should read the state it
follows again, as after a first connect. A subscriber that does not keep up (its queue full)
gets the same ``reset`` and is dropped, rather than slowing everyone down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from centralhub.core.time import rfc3339

__all__ = ["KINDS", "Event", "EventStream"]

log = logging.getLogger(__name__)
KINDS = ("config", "registry", "alerts")
SUBJECTS = ("config.update.*", "tenant.*.config.update.*", "registry.*.*", "alerts.*.changed")
#: the events kept for clients that reconnect
KEEP = 10_000
#: events waiting for one slow subscriber before it is dropped
QUEUE = 1_000


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    seq: int
    kind: str
    tenant: str | None
    service: str | None
    data: dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    dropped: bool = False


def _normalize(
    subject: str, payload: dict[str, Any], lookup: Any
) -> tuple[str, str | None, str | None, dict[str, Any]] | None:
    parts = subject.split(".")
    if "config" in parts and "update" in parts:
        tenant = str(payload.get("tenant_id") or (parts[1] if parts[0] == "tenant" else "default"))
        data = {"type": "updated", **{k: v for k, v in payload.items() if k != "origin"}}
        return "config", tenant, str(payload.get("service_name") or parts[-1]), data
    if parts[0] == "registry" and len(parts) == 3:
        instance = payload.get("instance") if isinstance(payload.get("instance"), dict) else None
        service = (instance or {}).get("service_name") or payload.get("service_name")
        return "registry", parts[1], service, {"type": parts[2], **payload}
    if parts[0] == "alerts":
        owner = None if parts[1] == "_global" else parts[1]
        alert = lookup(payload.get("alert_id")) if payload.get("alert_id") else None
        data = {"type": payload.get("kind", "changed"), **payload}
        if alert is not None:
            data["alert"] = alert
        return "alerts", owner, (alert or {}).get("target"), data
    return None


class EventStream:
    """Component (start/stop); ``hub.events_stream``."""

    def __init__(self, bus: Any, *, alert_lookup: Any = None, keep: int = KEEP) -> None:
        self.bus = bus
        self.alert_lookup = alert_lookup or (lambda _id: None)
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._kept: deque[Event] = deque(maxlen=keep)
        self._subscribers: set[Subscriber] = set()
        self._subs: list[Any] = []
        self.closed = False

    async def start(self) -> None:
        self.closed = False
        self._subs = [await self.bus.subscribe(subject, self._on_bus) for subject in SUBJECTS]

    async def stop(self) -> None:
        self.close()
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []

    def close(self) -> None:
        """End every open stream now (the server is shutting down)."""
        self.closed = True
        for subscriber in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)

    async def _on_bus(self, subject: str, payload: dict[str, Any]) -> None:
        found = _normalize(subject, payload, self.alert_lookup)
        if found is None:
            return
        kind, tenant, service, data = found
        self._seq += 1
        data.setdefault("at", rfc3339(time.time()))
        event = Event(f"{self.epoch}-{self._seq}", self._seq, kind, tenant, service, data)
        self._kept.append(event)
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.dropped = True
                self._subscribers.discard(subscriber)

    def subscribers(self) -> int:
        return len(self._subscribers)

    def since(self, last_id: str | None) -> tuple[list[Event], bool]:
        """(the kept events after ``last_id``, whether they are all the client missed)."""
        if not last_id:
            return [], True
        epoch, _, raw = last_id.partition("-")
        if epoch != self.epoch or not raw.isdigit():
            return [], False
        seq = int(raw)
        oldest = self._kept[0].seq if self._kept else self._seq + 1
        if seq < oldest - 1:
            return [], False
        return [e for e in self._kept if e.seq > seq], True

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

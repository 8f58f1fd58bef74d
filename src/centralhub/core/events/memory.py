"""In-process event bus: the embedded default when no ``NATS_URL`` is configured."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from centralhub.core.events.base import (
    EventBus,
    EventHandler,
    Subscription,
    check_subject,
    subject_matches,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from centralhub.core.tasks import Supervisor


class _MemorySubscription(Subscription):
    def __init__(self, bus: MemoryEventBus, pattern: str, handler: EventHandler) -> None:
        self._bus = bus
        self.pattern = pattern
        self.handler = handler

    async def unsubscribe(self) -> None:
        self._bus._subs.discard(self)


class MemoryEventBus(EventBus):
    """Delivers events to subscribers in this process, in publish order.

    Handlers run inline (awaited by ``publish``) so that, as with a real broker's ordered
    delivery, an event is applied before the publisher's next step; a failing handler is
    logged and does not affect other subscribers or the publisher.
    """

    name = "memory"

    def __init__(self) -> None:
        self._subs: set[_MemorySubscription] = set()
        self._closed = False

    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Open for delivery again after :meth:`close` (a hub restarted in the same process)."""
        self._closed = False

    @property
    def connected(self) -> bool:
        return not self._closed

    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        check_subject(subject, wildcards=False)
        if self._closed:
            raise ConnectionError("event bus is closed")
        for sub in list(self._subs):
            if subject_matches(sub.pattern, subject):
                try:
                    await sub.handler(subject, payload)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("event handler for %s failed", subject)

    async def subscribe(self, subject: str, handler: EventHandler) -> Subscription:
        check_subject(subject, wildcards=True)
        if self._closed:
            raise ConnectionError("event bus is closed")
        sub = _MemorySubscription(self, subject, handler)
        self._subs.add(sub)
        return sub

    async def close(self) -> None:
        self._closed = True
        self._subs.clear()

"""Domain events consumed off the write path.

A service commits its write, then calls :meth:`DomainEvents.emit` with a typed event (a frozen
dataclass from the capability's ``models.py``). ``emit`` only puts the event on a bounded queue;
a supervised consumer task hands it to each handler registered for its type. So alerts, metrics
and the dashboard feed never delay the write that caused them, and a slow or failing handler
costs only its own work. When consumers fall behind, the oldest events are dropped and counted
rather than growing memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]


class DomainEvents:
    """In-process, after-commit event queue with typed subscriptions."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self.dropped = 0
        self.handled = 0
        self.failed = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """``handler(event)`` runs for every emitted event of ``event_type`` (or a subclass)."""
        self._handlers[event_type].append(handler)

    def emit(self, event: object) -> None:
        """Queue ``event`` for the consumers; never blocks and never raises."""
        if not any(isinstance(event, t) for t in self._handlers):
            return
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("event consumers are behind: %d event(s) dropped", self.dropped)
        self._idle.clear()
        self._queue.put_nowait(event)

    async def run(self) -> None:
        """The consumer loop (started by the supervisor); handles events one at a time, in order."""
        while True:
            event = await self._queue.get()
            try:
                for event_type, handlers in list(self._handlers.items()):
                    if not isinstance(event, event_type):
                        continue
                    for handler in handlers:
                        try:
                            await handler(event)
                            self.handled += 1
                        except Exception:
                            self.failed += 1
                            log.exception("handler %r failed on %s", handler, type(event).__name__)
            finally:
                self._queue.task_done()
                if self._queue.empty():
                    self._idle.set()

    async def drain(self) -> None:
        """Wait until every queued event has been handled (tests, and an orderly stop)."""
        await self._queue.join()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

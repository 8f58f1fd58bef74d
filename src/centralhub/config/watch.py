"""Wakes held ``/watch`` requests when a service's configuration revision advances.

A replica learns of a new revision three ways: its own write (``advance`` after commit), another
replica's broadcast on the bus (``on_bus_event``), and, when the bus is not carrying events
(in-process bus, NATS down, a failed publish), a periodic revision check against the database
(``poll_revisions``, run by the supervisor) so a change is never lost to a watcher.

With ``load_all`` set (replicas may share the database), the revision check covers every
service rather than the watched ones only: reads answer from memory, and a replica whose
announcement was lost must still make the others' copies stale within one check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from centralhub.core.events.base import EventBus

log = logging.getLogger(__name__)

Key = tuple[str, str]
#: ``load([(tenant, service), ...]) -> {key: newest revision}`` read from the database
RevisionLoader = Callable[[list[Key]], Awaitable[dict[Key, int]]]
#: ``load() -> {key: newest revision}`` of every stored service
AllRevisionsLoader = Callable[[], Awaitable[dict[Key, int]]]


class RevisionWatcher:
    """Highest revision seen per (tenant, service) and the waiters parked on each."""

    def __init__(
        self,
        bus: EventBus,
        load_revisions: RevisionLoader,
        *,
        poll_interval: float = 1.0,
        safety_poll_interval: float = 5.0,
        load_all: AllRevisionsLoader | None = None,
    ) -> None:
        self.bus = bus
        self.load_revisions = load_revisions
        #: every service's newest revision, checked each round when set
        self.load_all = load_all
        self.poll_interval = poll_interval
        #: with a healthy shared bus other replicas' changes arrive as events: poll only this often
        self.safety_poll_interval = safety_poll_interval
        self._known: dict[Key, int] = {}
        self._signals: dict[Key, asyncio.Event] = {}
        self._watching: Counter[Key] = Counter()
        self.closed = False

    def known(self, key: Key) -> int:
        """The highest revision this replica has seen for ``key`` (0 when none)."""
        return self._known.get(key, 0)

    def advance(self, key: Key, revision: int) -> None:
        """Record ``revision``; a newer one wakes every waiter on ``key``."""
        if revision <= self._known.get(key, 0):
            return
        self._known[key] = revision
        event = self._signals.pop(key, None)
        if event is not None:
            event.set()

    def poke(self, key: Key) -> None:
        """Wake every waiter on ``key`` without a new revision (what some of them should run
        changed: a canary rollout began or ended)."""
        event = self._signals.pop(key, None)
        if event is not None:
            event.set()

    async def on_bus_event(self, _subject: str, payload: dict[str, Any]) -> None:
        """A change broadcast by any replica (this one included; ``advance`` ignores repeats)."""
        try:
            key = (str(payload["tenant_id"]), str(payload["service_name"]))
            revision = int(payload["revision"])
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring malformed config event %r", payload)
            return
        self.advance(key, revision)

    @contextlib.contextmanager
    def holding(self, key: Key) -> Iterator[None]:
        """Mark ``key`` as watched for the duration (the revision check looks only at these)."""
        self._watching[key] += 1
        try:
            yield
        finally:
            self._watching[key] -= 1
            if self._watching[key] <= 0:
                del self._watching[key]

    async def wait(self, key: Key, timeout: float) -> None:
        """Return when ``key`` advances, the watcher closes, or ``timeout`` seconds pass."""
        event = self._signals.get(key)
        if event is None:
            event = self._signals[key] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()

    async def wait_any(self, keys: list[Key], timeout: float) -> None:
        """:meth:`wait` on several keys: return when any of them advances (or is poked)."""
        if len(keys) == 1:
            await self.wait(keys[0], timeout)
            return
        waits = [asyncio.ensure_future(self._signals.setdefault(k, asyncio.Event()).wait()) for k in keys]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    def open(self) -> None:
        self.closed = False

    def close(self) -> None:
        """Release every waiter at once (the hub is stopping)."""
        self.closed = True
        for event in self._signals.values():
            event.set()
        self._signals.clear()

    async def poll_revisions(self) -> None:
        """Wake watchers on changes the bus did not deliver (other replica, failed publish)."""
        last = 0.0
        failing = False
        while True:
            await asyncio.sleep(self.poll_interval)
            if not self._watching and self.load_all is None:
                continue
            shared_bus_ok = self.bus.name != "memory" and self.bus.connected
            if shared_bus_ok and time.monotonic() - last < self.safety_poll_interval:
                continue
            last = time.monotonic()
            try:
                if self.load_all is not None:
                    revisions = await self.load_all()
                else:
                    revisions = await self.load_revisions(list(self._watching))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # a database blip must not end the loop: the next round tries again (said once)
                if not failing:
                    log.warning(
                        "config revision check failed (retrying every %gs): %s", self.poll_interval, exc
                    )
                failing = True
                continue
            if failing:
                log.info("config revision check works again")
                failing = False
            for key, rev in revisions.items():
                self.advance(key, rev)

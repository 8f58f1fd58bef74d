"""Change indexes and blocking queries the way Consul's clients expect them.

Every answer carries ``X-Consul-Index``; a client passes it back as ``?index=`` and the hub holds
the request until what it asked about changes (or ``wait`` passes). Indexes are kept per
service (and per tenant for the catalog-wide views), never one global counter: a global index
wakes every watcher on every change anywhere, so a blocking query on a quiet service would
never block.

Indexes are microsecond timestamps taken when this replica learns of a change (its own write or
a peer's event over the bus), kept strictly increasing. Replicas on one NATS see the same
changes within milliseconds, so an index handed out by one replica is meaningful on another;
where it is not (a replica that started later), Consul's clients already treat an index that
moved backwards as a reset.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from centralhub.core.errors import InvalidInput

__all__ = ["ChangeIndexes", "parse_index", "parse_wait"]

T = TypeVar("T")

#: Consul's defaults: a blocking query waits 5 minutes unless told otherwise, 10 at most
DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0
_WAIT_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_wait(value: str | None) -> float:
    """``wait`` as Consul takes it ("10s", "5m", "250ms"; a bare number is seconds)."""
    if value is None or value == "":
        return DEFAULT_WAIT
    found = _WAIT_RE.fullmatch(value.strip())
    if found is None:
        raise InvalidInput(f"wait must be a duration such as 10s, 5m or 250ms (got {value[:40]!r})")
    return min(float(found.group(1)) * _UNIT[found.group(2)], MAX_WAIT)


def parse_index(value: str | None, name: str = "index") -> int | None:
    """A non-negative integer query parameter (``index``, ``cas``, ``flags``); ``None`` if absent."""
    if value is None or value == "":
        return None
    try:
        found = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a non-negative integer (got {value[:40]!r})") from None
    if found < 0:
        raise InvalidInput(f"{name} must be a non-negative integer (got {found})")
    return found


class ChangeIndexes:
    """The latest change index of each key, and the requests waiting for one to move."""

    def __init__(self) -> None:
        self._last = 0
        self.started = self.next()
        self._index: dict[tuple[str, ...], int] = {}
        self._waiters: dict[tuple[str, ...], asyncio.Event] = {}
        self._closing = asyncio.Event()

    def next(self) -> int:
        """A new index, greater than every one handed out before on this replica."""
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last

    def get(self, key: tuple[str, ...]) -> int:
        return self._index.get(key, self.started)

    def bump(self, *keys: tuple[str, ...], index: int | None = None) -> int:
        """Record a change of each key (at ``index`` when a peer named it) and wake its waiters."""
        value = self.next() if index is None else max(index, self._last)
        self._last = max(self._last, value)
        for key in keys:
            self._index[key] = max(value, self._index.get(key, 0))
            event = self._waiters.pop(key, None)
            if event is not None:
                event.set()
        return value

    def close(self) -> None:
        """Answer every held query now: the server is shutting down."""
        self._closing.set()

    async def block(
        self,
        key: tuple[str, ...],
        index: int | None,
        wait: float,
        answer: Callable[[], Awaitable[tuple[int, T]]],
    ) -> tuple[int, T]:
        """``answer()`` once its index differs from ``index`` (a change), or when ``wait`` ends.

        Without ``index`` (or with 0) the answer is immediate, as in Consul. A change of ``key``
        makes the answer be computed again; an unrelated change elsewhere never does."""
        current, result = await answer()
        if not index or current != index:
            return current, result
        deadline = asyncio.get_running_loop().time() + wait
        while not self._closing.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            event = self._waiters.setdefault(key, asyncio.Event())
            closing = asyncio.ensure_future(self._closing.wait())
            changed = asyncio.ensure_future(event.wait())
            try:
                await asyncio.wait({closing, changed}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                changed.cancel()
            current, result = await answer()
            if current != index:
                break
        return current, result

"""Helpers every test module shares: one way to wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 15.0, every: float = 0.05, what: str = "condition"
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy, and return that.

    Fails the test at the deadline with the last value seen, so a timeout says what was wrong.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last value: {last!r})")
        await asyncio.sleep(every)


def wait_until_sync(
    predicate: Callable[[], Any], *, timeout: float = 15.0, every: float = 0.05, what: str = "condition"
) -> Any:
    """:func:`wait_until` for code outside an event loop (subprocess and CLI tests)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last value: {last!r})")
        time.sleep(every)

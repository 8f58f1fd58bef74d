"""``DatabaseHealthChecker(router).check_all()``: every store's health in one report.

Each store is pinged concurrently under ``timeout``; the report is ``healthy`` when all answer,
``degraded`` when some do, ``unhealthy`` when none does, with each store's latency, version or
error.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from centralhub.sdk.database.base import Backend
from centralhub.sdk.database.router import DatabaseRouter

__all__ = ["DatabaseHealthChecker"]


class DatabaseHealthChecker:
    def __init__(self, router: DatabaseRouter, *, timeout: float = 5.0) -> None:
        self.router = router
        self.timeout = timeout

    async def check(self, name: str) -> dict[str, Any]:
        backend = self.router.get(name)
        return await self._check(name, backend)

    async def _check(self, name: str, backend: Backend) -> dict[str, Any]:
        base = {"kind": backend.kind, "where": backend.config.where}
        if not backend.connected:
            why = self.router.errors.get(name, "not connected")
            return {**base, "healthy": False, "error": why}
        start = time.perf_counter()
        try:
            found = await asyncio.wait_for(backend.ping(), self.timeout)
        except TimeoutError:
            return {**base, "healthy": False, "error": f"no answer within {self.timeout:g}s"}
        except Exception as exc:
            return {**base, "healthy": False, "error": f"{type(exc).__name__}: {exc}"}
        latency = round((time.perf_counter() - start) * 1000, 2)
        return {**base, "healthy": True, "latency_ms": latency, **found}

    async def check_all(self) -> dict[str, Any]:
        names = list(self.router.stores)
        results = await asyncio.gather(*(self._check(n, self.router.stores[n]) for n in names))
        stores = dict(zip(names, results, strict=True))
        up = sum(1 for r in results if r["healthy"])
        status = "healthy" if up == len(results) else ("degraded" if up else "unhealthy")
        return {"status": status, "healthy": up, "total": len(results), "stores": stores}

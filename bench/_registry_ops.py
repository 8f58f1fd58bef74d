"""CPU time of the registry's whole-registry operations, in process, at N instances.

Complements ``scale.py`` with figures a busy machine hardly moves (``time.process_time``, no
sockets): on a fresh PostgreSQL database seeded with N instances it starts a ``Hub`` and prints
the CPU seconds of the start-up load, then the CPU milliseconds of one TTL reaper pass, of the
figures ``/health`` and every metrics scrape read, and of the dependency graph every new alert
asks for (the first call after the start-up, then the mean of 20 more, nothing changing meanwhile).

Run it against two trees to compare them in the same minute::

    PYTHONPATH=src python bench/_registry_ops.py 100000
    PYTHONPATH=/path/to/other/src python bench/_registry_ops.py 100000
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import temp_postgres_database  # noqa: E402 - bench/ is not a package
from scale import _seed_in_process, registration  # noqa: E402


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _cpu_ms(call: Callable[[], Awaitable[Any] | Any], n: int = 20) -> float:
    started = time.process_time()
    for _ in range(n):
        result = call()
        if asyncio.iscoroutine(result):
            await result
    return (time.process_time() - started) / n * 1000


async def measure(url: str, instances: int) -> None:
    from centralhub.core.settings import load_settings
    from centralhub.hub import Hub

    os.environ.update({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    first = Hub(load_settings())  # creates the schema
    await first.start()
    await first.stop()
    await _seed_in_process(url, [registration(k // 10, k % 10) for k in range(instances)])

    hub = Hub(load_settings())
    started = time.process_time()
    await hub.start()
    start_cpu = time.process_time() - started
    try:
        reg = hub.registry
        rss = _rss_mb()
        print(f"{instances:,} instances: start-up {start_cpu:.2f} s CPU, RSS {rss:.0f} MB")
        print("CPU ms, first call / mean of the next 20:")
        for label, call in (
            ("reaper pass", reg.expire),
            ("figures (/health, metrics)", reg.figures),
            ("graph for an alert", lambda: hub.dependency_graph.dependents_of("scale-svc-00001", "default")),
        ):
            first = await _cpu_ms(call, 1)
            print(f"  {label:28} {first:9.3f} / {await _cpu_ms(call):9.3f}")
    finally:
        await hub.stop()


def main() -> None:
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with temp_postgres_database() as url:
        asyncio.run(measure(url, instances))


if __name__ == "__main__":
    main()

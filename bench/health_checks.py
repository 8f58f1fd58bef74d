"""Schedule lag of the active health checker: 1,000 instances, HTTP checks every 10 s.

The targets are a raw asyncio HTTP server in its own process (so it does not share the hub's
event loop); each instance is a distinct loopback address (127.0.x.y) on one port. The hub runs
in-process on a temporary SQLite database. Printed beside the checker's lag: a reference timer
in the same event loop (the loop's own oversleep while the checks run), the probe count
against the expected count, and the hub process's CPU use.

    .venv/bin/python bench/health_checks.py [--instances 1000] [--interval 10] [--seconds 35]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(__file__))
from _util import free_port, python  # noqa: E402

from centralhub.core.settings import load_settings  # noqa: E402
from centralhub.hub import Hub  # noqa: E402
from centralhub.registry.models import Registration  # noqa: E402

TARGET = textwrap.dedent(
    """
    import asyncio, sys
    count = 0
    async def handle(reader, writer):
        global count
        try:
            await reader.readuntil(b"\\r\\n\\r\\n")
            count += 1
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()
    async def main():
        server = await asyncio.start_server(handle, "0.0.0.0", int(sys.argv[1]), backlog=4096)
        async with server:
            await server.serve_forever()
    asyncio.run(main())
    """
)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else float("nan")


async def run(n: int, interval: float, seconds: float, port: int) -> None:
    tmp = tempfile.mkdtemp()
    hub = Hub(load_settings(env={}, database_url=f"sqlite:///{tmp}/bench.db"))
    try:
        await hub.start()
        check = {
            "type": "http",
            "interval_seconds": interval,
            "timeout_seconds": 2.0,
            "failures_before_critical": 3,
            "successes_before_passing": 2,
        }
        for i in range(n):
            host = f"127.0.{1 + i // 250}.{1 + i % 250}"
            reg = Registration(
                name=f"svc-{i % 50}", host=host, port=port, health_endpoint="/health", check=check
            )
            await hub.registry.register("default", reg)
        # reference: a timer in the same loop, how late does a 100 ms sleep wake up?
        ref: list[float] = []

        async def reference() -> None:
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.1)
                ref.append(time.perf_counter() - t0 - 0.1)

        ref_task = asyncio.create_task(reference())
        warm = interval  # the first interval spreads the jittered first probes
        await asyncio.sleep(warm)
        hub.health_checker.lag.clear()
        probes0 = hub.health_checker.probes
        ref.clear()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.sleep(seconds - warm)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        ref_task.cancel()
        lag = list(hub.health_checker.lag)
        probes = hub.health_checker.probes - probes0
        figures = hub.registry.figures()["instances_by_status"]
        print(f"instances={n} interval={interval}s measured={elapsed:.1f}s (after {warm:.0f}s warm-up)")
        print(f"probes: {probes} (expected {n * elapsed / interval:.0f}) statuses: {figures}")
        print(
            f"checker schedule lag ms: p50={pct(lag, 0.5):.2f} p99={pct(lag, 0.99):.2f} "
            f"max={pct(lag, 1.0):.2f} (n={len(lag)})"
        )
        print(
            f"reference loop oversleep ms: p50={pct(ref, 0.5):.2f} p99={pct(ref, 0.99):.2f} "
            f"max={pct(ref, 1.0):.2f}"
        )
        print(f"hub process CPU: {cpu / elapsed * 100:.1f}% of one core")
    finally:
        await hub.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=35.0)
    a = ap.parse_args()
    port = free_port()
    target = subprocess.Popen([python(), "-c", TARGET, str(port)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        asyncio.run(run(a.instances, a.interval, a.seconds, port))
    finally:
        target.terminate()
        target.wait(10)


if __name__ == "__main__":
    main()

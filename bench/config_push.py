"""Config push latency: from the start of a write to the callback in a ConfigClient.

Runs, in one bounded run:
  * the hub as a real process (``centralhub serve``, this tree's code through ``PYTHONPATH``)
    on a free port, ``NATS_URL`` set, once on SQLite in a temp dir and once on a fresh
    PostgreSQL database (``BENCH_POSTGRES_URL``, dropped at the end): 200 updates, one every
    20 ms, each timed from the start of its HTTP POST to the ConfigClient's callback, received
    over NATS;
  * the same over ``/watch`` (a ConfigClient with ``watch=True`` and NATS off);
  * the reference: etcd on loopback ports with a temp data dir, a put through the v3 HTTP/JSON
    gateway (``/v3/kv/put``) to the event on a ``/v3/watch`` stream, measured between the two
    hubs so all three share the same background load.
Prints p50/p99 for each and our/etcd ratios. Everything started here is stopped at the end.

    .venv/bin/python bench/config_push.py [--updates 200] [--interval-ms 20] [--nats nats://127.0.0.1:4222]
        [--only sqlite|postgres] [--database-url URL (instead of the temp PostgreSQL database)]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from centralhub.sdk.config_client import ConfigClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import PG_ADMIN_URL  # noqa: E402 - bench/ is not a package


@contextlib.asynccontextmanager
async def temp_postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the run (``BENCH_POSTGRES_URL``), dropped afterwards."""
    import asyncpg

    name = f"centralhub_push_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(name: str, lat_ms: list[float], expected: int) -> dict[str, Any]:
    return {
        "name": name,
        "received": len(lat_ms),
        "expected": expected,
        "p50": pct(lat_ms, 50) if lat_ms else float("nan"),
        "p99": pct(lat_ms, 99) if lat_ms else float("nan"),
        "mean": statistics.fmean(lat_ms) if lat_ms else float("nan"),
        "max": max(lat_ms) if lat_ms else float("nan"),
    }


async def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited early:\n{log.read_text()[-2000:]}")  # noqa: ASYNC240
            try:
                r = await http.get(url)
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready in {timeout}s:\n{log.read_text()[-2000:]}")  # noqa: ASYNC240


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ---------------------------------------------------------------- hub paths
async def run_hub_path(hub_url: str, nats_url: str | None, n: int, interval: float) -> list[float]:
    """``n`` POSTs at ``interval``; returns write-start → callback latencies (ms)."""
    service = f"bench-{uuid.uuid4().hex[:8]}"
    starts: dict[int, float] = {}
    lat: list[float] = []
    done = asyncio.Event()

    def on_update(cfg: dict[str, Any]) -> None:
        now = time.perf_counter()
        seq = cfg.get("seq")
        if isinstance(seq, int) and seq in starts:
            lat.append((now - starts.pop(seq)) * 1000)
            if seq == n - 1:
                done.set()

    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"{hub_url}/api/v1/config/{service}", json={"seq": -1})
        r.raise_for_status()
        client = ConfigClient(
            service,
            central_hub_url=hub_url,
            enable_nats_updates=nats_url is not None,
            nats_url=nats_url,
            watch=nats_url is None,
            watch_timeout=30,
        )
        await client.init_async()
        client.on_config_update(on_update)
        try:
            await asyncio.sleep(0.5)  # subscription / first watch in place
            t0 = time.perf_counter()
            for seq in range(n):
                delay = t0 + seq * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                starts[seq] = time.perf_counter()
                r = await http.post(f"{hub_url}/api/v1/config/{service}", json={"seq": seq})
                r.raise_for_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 10)
        finally:
            await client.shutdown()
    return lat


# ---------------------------------------------------------------- etcd reference
def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def run_etcd(etcd_url: str, n: int, interval: float) -> list[float]:
    key = f"/bench/{uuid.uuid4().hex[:8]}"
    starts: dict[int, float] = {}
    lat: list[float] = []
    ready = asyncio.Event()
    done = asyncio.Event()

    async def watcher() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(60, connect=5)) as http,
            http.stream("POST", f"{etcd_url}/v3/watch", json={"create_request": {"key": b64(key)}}) as resp,
        ):
            async for line in resp.aiter_lines():
                now = time.perf_counter()
                if not line.strip():
                    continue
                msg = json.loads(line).get("result", {})
                if msg.get("created"):
                    ready.set()
                for ev in msg.get("events", []):
                    seq = int(base64.b64decode(ev["kv"]["value"]).decode())
                    if seq in starts:
                        lat.append((now - starts.pop(seq)) * 1000)
                    if seq == n - 1:
                        done.set()
                        return

    task = asyncio.create_task(watcher())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with httpx.AsyncClient(timeout=10) as http:
            t0 = time.perf_counter()
            for seq in range(n):
                delay = t0 + seq * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                starts[seq] = time.perf_counter()
                r = await http.post(f"{etcd_url}/v3/kv/put", json={"key": b64(key), "value": b64(str(seq))})
                r.raise_for_status()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return lat


# ---------------------------------------------------------------- main
def start_hub(
    database_url: str, nats: str, tmp: Path, label: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        NATS_URL=nats,
        # a cluster name of its own: other runs on the same NATS never reach this hub
        CENTRAL_HUB_CLUSTER=f"bench_push_{uuid.uuid4().hex[:8]}",
        CENTRAL_HUB_PORT=str(port),
        CENTRAL_HUB_HOST="127.0.0.1",
        LOG_LEVEL="WARNING",
        # one address sends every update: measured through the limiter, never throttled
        CENTRAL_HUB_RATE_LIMIT_PER_MINUTE=str(10**12),
        CENTRAL_HUB_RATE_LIMIT_BURST=str(10**12),
    )
    log = tmp / f"hub-{label}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralhub.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    return proc, f"http://127.0.0.1:{port}", log


async def bench_hub(
    label: str, database_url: str, args: argparse.Namespace, tmp: Path, results: list[dict[str, Any]]
) -> None:
    n, interval = args.updates, args.interval_ms / 1000
    proc, hub_url, log = start_hub(database_url, args.nats, tmp, label)
    try:
        await wait_http(hub_url + "/health", 30, proc, log)
        # the hub's client reads the cluster's subject prefix from /api/v1/info
        results.append(
            summary(f"{label} hub over NATS", await run_hub_path(hub_url, args.nats, n, interval), n)
        )
        results.append(summary(f"{label} hub over /watch", await run_hub_path(hub_url, None, n, interval), n))
    finally:
        stop(proc)


async def bench_etcd(
    etcd_bin: str, args: argparse.Namespace, tmp: Path, results: list[dict[str, Any]]
) -> None:
    n, interval = args.updates, args.interval_ms / 1000
    cport, pport = free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{cport}"
    etcd_log = tmp / "etcd.log"
    etcd_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [
            etcd_bin,
            "--name",
            "bench",
            "--data-dir",
            str(tmp / f"etcd-{uuid.uuid4().hex[:6]}"),
            "--listen-client-urls",
            etcd_url,
            "--advertise-client-urls",
            etcd_url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{pport}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{pport}",
            "--initial-cluster",
            f"bench=http://127.0.0.1:{pport}",
            "--log-level",
            "error",
        ],
        stdout=etcd_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_http(etcd_url + "/health", 30, etcd_proc, etcd_log)
        results.append(summary("etcd watch (HTTP gateway)", await run_etcd(etcd_url, n, interval), n))
    finally:
        stop(etcd_proc)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=20.0)
    ap.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL to use instead of a temporary database, e.g. postgresql://postgres@127.0.0.1/test",
    )
    args = ap.parse_args()
    n = args.updates

    etcd_bin = shutil.which("etcd")
    tmp = Path(tempfile.mkdtemp(prefix="config-push-bench-"))
    results: list[dict[str, Any]] = []
    backends = [args.only] if args.only else ["sqlite", "postgres"]
    try:
        for i, backend in enumerate(backends):
            if backend == "sqlite":
                await bench_hub("sqlite", f"sqlite:///{tmp / 'hub.db'}", args, tmp, results)
            elif args.database_url:
                await bench_hub("postgres", args.database_url, args, tmp, results)
            else:
                async with temp_postgres_database() as url:
                    await bench_hub("postgres", url, args, tmp, results)
            if i == 0:
                if etcd_bin is None:
                    print("etcd not found: apt-get install -y etcd-server etcd-client", file=sys.stderr)
                else:
                    await bench_etcd(etcd_bin, args, tmp, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"config push: {n} updates, one every {args.interval_ms:g} ms; HTTP write start -> callback (ms); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'path':36} {'recv':>8} {'p50':>8} {'p99':>8} {'mean':>8} {'max':>8}")
    for r in results:
        print(
            f"{r['name']:36} {r['received']:>4}/{r['expected']:<3} {r['p50']:8.2f} {r['p99']:8.2f} "
            f"{r['mean']:8.2f} {r['max']:8.2f}"
        )
    etcd = next((r for r in results if r["name"].startswith("etcd")), None)
    if etcd is not None:
        for r in results:
            if r is etcd:
                continue
            print(
                f"{r['name']:36} / etcd: p50 x{r['p50'] / etcd['p50']:.2f}  p99 x{r['p99'] / etcd['p99']:.2f}"
                f"  (target p99 <= etcd: {'met' if r['p99'] <= etcd['p99'] else 'NOT met'})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

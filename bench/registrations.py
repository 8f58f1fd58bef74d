"""Registration throughput and big listings, against a bare Starlette route measured in the same run.

For each database (PostgreSQL by default; ``--only sqlite|postgres|both``):

1. spawns the real hub (``python -m centralhub.cli serve``; set ``PYTHONPATH`` to bench a tree
   other than the installed one) and the bare Starlette reference (``bench/_register_ref.py``);
2. drives ``POST /api/v1/services/register`` with wrk at ``--connections`` (64) from a Lua script
   walking 20,000 distinct registration bodies, on the reference, the hub, then the reference
   again (the reference figure is the mean of its two runs, so both share the background load);
3. grows the registry to ``--services`` x ``--per-service`` instances (1,000 x 50 = 50,000)
   through ``POST /api/v1/services/register/batch`` (1,000 a request) and times it;
4. times ``GET /api/v1/services`` walked page by page (default page size, and ``limit=1000``);
5. drives ``GET /api/v1/services/{name}/endpoint`` with wrk (4 connections) alone, then while two
   threads walk the whole listing over and over, and prints p99 and max latency of both runs.

Figures go to stdout and ``.bench/registrations.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import (
    ROOT,
    Server,
    WrkResult,
    free_port,
    lua_bodies_script,
    lua_paths_script,
    python,
    run_wrk,
    spawn,
    temp_postgres_database,
    wait_ready,
)
from _util import (  # noqa: E402
    start_hub as spawn_hub,
)

LOG_DIR = ROOT / ".bench" / "logs" / f"registrations-{time.strftime('%Y%m%d-%H%M%S')}"
REGISTER = "/api/v1/services/register"
BATCH = "/api/v1/services/register/batch"
JSON_HEADERS = {"content-type": "application/json"}


def registration(i: int) -> dict[str, Any]:
    return {
        "name": f"reg-svc-{i % 200:03d}",
        "host": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
        "port": 8000 + i % 1000,
        "protocol": "http",
        "version": "1.4.2",
        "metadata": {"type": "worker", "capabilities": ["http", "grpc"], "zone": "eu-1"},
    }


def start_hub(database_url: str, label: str) -> Server:
    return spawn_hub(
        database_url,
        name=f"hub-{label}",
        log_path=LOG_DIR / f"hub-{label}.log",
        extra_env={"CENTRAL_HUB_MAX_BODY_BYTES": str(8 * 1024 * 1024)},
    )[0]


def start_reference(answer: bytes, workdir: Path) -> Server:
    port = free_port()
    answer_file = workdir / "answer.json"
    answer_file.write_bytes(answer)
    server = spawn(
        "starlette-register",
        [python(), str(Path(__file__).parent / "_register_ref.py"), str(port), str(answer_file)],
        port=port,
        log_path=LOG_DIR / "starlette-register.log",
        env=dict(os.environ),
    )
    wait_ready(server, "/health", timeout=30)
    return server


def fmt(r: WrkResult) -> str:
    return (
        f"{r.rps:9.1f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  max {r.max_ms:7.1f} ms"
        f"  errors {r.socket_errors}  non-2xx {r.non2xx}"
    )


def walk(url: str, limit: int | None) -> tuple[float, int, float]:
    """Seconds for the whole listing, instances seen, slowest page in seconds."""
    instances = 0
    slowest = 0.0
    cursor = None
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120) as client:
        while True:
            params: dict[str, Any] = {} if limit is None else {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            p0 = time.perf_counter()
            resp = client.get("/api/v1/services", params=params)
            slowest = max(slowest, time.perf_counter() - p0)
            resp.raise_for_status()
            page = resp.json()
            instances += sum(len(s["instances"]) for s in page["services"])
            cursor = page.get("next_cursor")
            if not cursor:
                return time.perf_counter() - t0, instances, slowest


def bench_database(label: str, database_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"database": label}
    hub = start_hub(database_url, label)
    try:
        bodies = [json.dumps(registration(i)) for i in range(20_000)]
        script = workdir / "register.lua"
        script.write_text(lua_bodies_script(REGISTER, bodies))
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            answer = client.post(REGISTER, json=registration(0))
            answer.raise_for_status()
        if "register" not in args.parts:
            return out | bench_listing(label, hub, args, workdir)
        ref = start_reference(answer.content, workdir)
        try:
            runs = {}
            for name, server in (("ref1", ref), ("hub", hub), ("ref2", ref)):
                runs[name] = run_wrk(
                    server.url, script, connections=args.connections, duration=args.duration, timeout_s=10
                )
        finally:
            ref.stop()
        ref_rps = (runs["ref1"].rps + runs["ref2"].rps) / 2
        ratio = runs["hub"].rps / ref_rps if ref_rps else 0.0
        print(f"[{label}] POST {REGISTER} at {args.connections} connections, {args.duration:g} s")
        print(f"  starlette (1) {fmt(runs['ref1'])}")
        print(f"  hub           {fmt(runs['hub'])}")
        print(f"  starlette (2) {fmt(runs['ref2'])}")
        print(f"  hub / starlette = {ratio:.2f}x   (goal >= 0.5x)")
        out["register"] = {k: v.as_dict() for k, v in runs.items()} | {"ratio": round(ratio, 3)}
        if "listing" in args.parts:
            out |= bench_listing(label, hub, args, workdir)
    finally:
        hub.stop()
    return out


def bench_listing(label: str, hub: Server, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # the big registry, by batches
    total = args.services * args.per_service
    items = [
        {
            "name": f"big-svc-{s:04d}",
            "host": f"h{s}-{k}",
            "port": 9000,
            "ttl_seconds": 86400,
            "metadata": {"k": k},
        }
        for s in range(args.services)
        for k in range(args.per_service)
    ]
    t0 = time.perf_counter()
    with httpx.Client(base_url=hub.url, timeout=120) as client:
        for start in range(0, len(items), 1000):
            resp = client.post(BATCH, json={"instances": items[start : start + 1000]})
            if resp.status_code != 201:
                raise RuntimeError(f"batch registration answered {resp.status_code}: {resp.text[:300]}")
    batch_seconds = time.perf_counter() - t0
    rate = total / batch_seconds
    print(f"[{label}] {total} instances by batches of 1000: {batch_seconds:.2f} s = {rate:.0f}/s")
    out["batch_registrations_per_s"] = round(total / batch_seconds)

    listing = {}
    for limit in (None, 1000):
        seconds, seen, slowest = walk(hub.url, limit)
        listing[str(limit or "default")] = {"seconds": seconds, "instances": seen, "slowest_page_s": slowest}
        print(
            f"[{label}] GET /api/v1/services walked, limit={limit or 'default'}: {seconds:.2f} s for "
            f"{seen} instances, slowest page {slowest * 1000:.0f} ms"
        )
    out["listing"] = listing

    paths = [f"/api/v1/services/big-svc-{s:04d}/endpoint" for s in range(args.services)]
    endpoint_script = workdir / "endpoint.lua"
    endpoint_script.write_text(lua_paths_script(paths))
    alone = run_wrk(hub.url, endpoint_script, connections=4, duration=args.duration)
    stop = threading.Event()
    walks: list[float] = []

    def walker() -> None:
        while not stop.is_set():
            walks.append(walk(hub.url, 1000)[0])

    threads = [threading.Thread(target=walker, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    try:
        during = run_wrk(hub.url, endpoint_script, connections=4, duration=args.duration)
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    print(f"[{label}] GET …/endpoint, 4 connections, alone:            {fmt(alone)}")
    print(f"[{label}] GET …/endpoint while 2 clients walk the listing: {fmt(during)}")
    print(
        f"  listings served meanwhile: {len(walks)} (mean {sum(walks) / max(1, len(walks)):.2f} s each);"
        f" max delay over alone: {during.max_ms - alone.max_ms:.1f} ms, p99 {during.p99_ms:.2f} ms"
        f"   (goal: no request delayed > 10 ms)"
    )
    out["endpoint_alone"] = alone.as_dict()
    out["endpoint_during_listing"] = during.as_dict()
    out["listings_during"] = len(walks)
    return out


async def loop_lag(database_url: str, args: argparse.Namespace) -> dict[str, float]:
    """The longest the hub's event loop is held, idle and while the listing is walked, measured
    in process: a task asks to wake every millisecond and records how late it wakes. Noise from
    other processes shows in both figures; what the listing adds is their difference."""
    import asyncio

    from centralhub.core.settings import load_settings
    from centralhub.hub import Hub
    from centralhub.registry.models import Registration
    from centralhub.server.app import create_app

    settings = load_settings(env={}, database_url=database_url)
    hub = Hub(settings)
    await hub.start()
    try:
        regs = [
            Registration(
                name=f"lag-svc-{s:04d}", host=f"h{s}-{k}", port=9000, ttl_seconds=86400, metadata={"k": k}
            )
            for s in range(args.services)
            for k in range(args.per_service)
        ]
        for start in range(0, len(regs), 1000):
            await hub.registry.register_many("default", regs[start : start + 1000])
        app = create_app(settings, hub=hub)
        lags: list[float] = []

        async def ticker(stop: asyncio.Event) -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append(time.perf_counter() - t0 - 0.001)

        async def measure(work: Any) -> tuple[float, float]:
            lags.clear()
            stop = asyncio.Event()
            task = asyncio.create_task(ticker(stop))
            await work()
            stop.set()
            await task
            ordered = sorted(lags)
            return ordered[-1] * 1000, ordered[int(len(ordered) * 0.99)] * 1000

        async def idle() -> None:
            await asyncio.sleep(2)

        async def listing() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=120) as client:
                for limit in (100, 1000):
                    cursor = None
                    while True:
                        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
                        head = b""
                        async with client.stream("GET", "/api/v1/services", params=params) as resp:
                            async for chunk in resp.aiter_raw():
                                if len(head) < 4096:
                                    head += chunk
                        # the cursor is in the first chunks: decoding 30 MB here would hold the
                        # loop this measures
                        found = re.search(rb'"next_cursor":(null|"([^"]*)")', head)
                        cursor = found.group(2).decode() if found and found.group(2) else None
                        if not cursor:
                            break

        # CPU time between two yields of a page's serialization: what the listing holds the loop
        # for on an idle machine (wall-clock lag above also counts other processes' turns)
        from centralhub.registry import pages

        holds: list[float] = []
        for limit in (100, 1000):
            page = hub.registry.service_page("default", status=None, limit=limit, after=None)
            last = time.thread_time()
            async for _chunk in pages.page_chunks(page):
                now = time.thread_time()
                holds.append(now - last)
                last = now
        holds.sort()
        t0 = time.perf_counter()
        busy, busy99 = await measure(listing)
        seconds = time.perf_counter() - t0
        quiet, quiet99 = await measure(idle)
        return {
            "max_lag_idle_ms": round(quiet, 2),
            "p99_lag_idle_ms": round(quiet99, 2),
            "max_lag_listing_ms": round(busy, 2),
            "p99_lag_listing_ms": round(busy99, 2),
            "walks_s": seconds,
            "max_cpu_per_slice_ms": round(holds[-1] * 1000, 2),
            "p99_cpu_per_slice_ms": round(holds[int(len(holds) * 0.99)] * 1000, 2),
        }
    finally:
        await hub.stop()


async def cpu_per_registration(database_url: str, n: int = 3000) -> dict[str, float]:
    """CPU time per registration with the app called in process (no sockets, 64 in flight):
    the hub's ASGI app against the bare Starlette route, driven by the same client. Less at the
    mercy of other processes than requests per second; the client's own cost is in both."""
    import asyncio

    import _register_ref

    from centralhub.core.settings import load_settings
    from centralhub.hub import Hub
    from centralhub.server.app import create_app

    bodies = [json.dumps(registration(i)).encode() for i in range(n)]

    async def drive(app: Any) -> tuple[float, bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            gate = asyncio.Semaphore(64)

            async def one(body: bytes) -> bytes:
                async with gate:
                    resp = await client.post(
                        REGISTER, content=body, headers={"content-type": "application/json"}
                    )
                    if resp.status_code != 201:
                        raise RuntimeError(f"registration answered {resp.status_code}: {resp.text[:300]}")
                    return resp.content

            await asyncio.gather(*(one(b) for b in bodies[:200]))
            cpu = time.process_time()
            answers = await asyncio.gather(*(one(b) for b in bodies))
            return (time.process_time() - cpu) / n * 1e6, answers[0]

    settings = load_settings(
        env={}, database_url=database_url, rate_limit_per_minute=10**12, rate_limit_burst=10**12
    )
    hub = Hub(settings)
    await hub.start()
    try:
        hub_us, answer = await drive(create_app(settings, hub=hub))
    finally:
        await hub.stop()
    ref_us, _ = await drive(_register_ref.build_app(answer))
    return {"hub_us": round(hub_us), "starlette_us": round(ref_us), "ratio": round(ref_us / hub_us, 3)}


def pages_slice() -> int:
    from centralhub.registry.pages import SLICE

    return SLICE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--per-service", type=int, default=50)
    parser.add_argument(
        "--parts", default="register,listing,cpu,lag", help="comma-separated: register,listing,cpu,lag"
    )
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "registrations.json")
    args = parser.parse_args()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; server logs in {LOG_DIR}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only in ("sqlite", "both") and {"register", "listing"} & set(args.parts.split(",")):
            results.append(bench_database("sqlite", f"sqlite:///{workdir / 'hub.db'}", args, workdir))
        if args.only in ("postgres", "both") and {"register", "listing"} & set(args.parts.split(",")):
            with temp_postgres_database() as url:
                results.append(bench_database("postgres", url, args, workdir))
        if "cpu" in args.parts:
            import asyncio

            with temp_postgres_database() as url:
                cpu = asyncio.run(cpu_per_registration(url))
            print(
                f"[postgres, in process] CPU per registration: hub {cpu['hub_us']:.0f} us, bare Starlette"
                f" {cpu['starlette_us']:.0f} us (client included in both): Starlette/hub {cpu['ratio']:.2f}"
            )
            results.append({"cpu_per_registration": cpu})
        if "lag" in args.parts:
            import asyncio

            with temp_postgres_database() as url:
                lag = asyncio.run(loop_lag(url, args))
            print(
                f"[postgres, in process] {args.services * args.per_service} instances; loop held at most"
                f" {lag['max_lag_idle_ms']:.1f} ms idle (p99 {lag['p99_lag_idle_ms']:.1f}),"
                f" {lag['max_lag_listing_ms']:.1f} ms (p99 {lag['p99_lag_listing_ms']:.1f}) while the listing"
                f" was walked twice (limit 100, then 1000; {lag['walks_s']:.1f} s)   (goal: < 10 ms)"
            )
            print(
                f"  CPU time per serialized slice of {pages_slice()} instances: p99"
                f" {lag['p99_cpu_per_slice_ms']:.2f} ms, max {lag['max_cpu_per_slice_ms']:.2f} ms"
            )
            results.append({"loop_lag": lag})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Configuration reads and concurrent writes of one service, against same-run references.

For SQLite and then a fresh PostgreSQL database (``BENCH_POSTGRES_URL``, dropped at the end):

1. spawns the hub (``python -m centralhub.cli serve``, this tree's code through ``PYTHONPATH``),
   stores ``--services`` configurations (a ~1 KB document each);
2. reads: wrk (-t 2, 64 connections, ``--duration`` s after a 1 s warm-up) on
   ``GET /api/v1/config/{service}`` walking every service, and the same on the bare Starlette
   reference (``_starlette_ref.py``: the hub's uvicorn settings, a route returning a body of the
   same bytes), taking turns ``--rounds`` times; prints req/s, p50/p99 and hub/Starlette;
3. writes: wrk with 50 connections POSTing whole documents to ONE service's configuration
   for ``--duration`` s (50 concurrent writers), then checks that every 2xx is one stored
   revision (contiguous, none lost) and prints writes/s and refusals; the same load on etcd
   (one key, ``/v3/kv/put``) is the reference when ``etcd`` is installed (once, before the
   databases);
4. in process (no socket, no HTTP parser): microseconds per request through the hub's ASGI app
   for the configuration read, and through the bare Starlette reference app returning the same
   bytes, best of 5 rounds (the noise-resistant figure when wrk's swing on a loaded machine).

   With a global document under the service's own, the same read again: what the merge costs.

    python bench/config_reads.py [--only sqlite|postgres] [--duration 5] [--rounds 2] [--asgi-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
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
from _util import (  # noqa: E402 - bench/ is not a package
    start_hub as spawn_hub,
)

LOG_DIR = ROOT / ".bench" / "logs" / f"config-reads-{time.strftime('%H%M%S')}-{os.getpid()}"
WRITERS = 50


def document(i: int) -> dict[str, Any]:
    """A configuration of a realistic size (~1 KB)."""
    return {
        "operational": {
            "log_level": "INFO",
            "workers": 8,
            "timeouts": {"connect_ms": 500, "read_ms": 2000, "idle_s": 30},
            "features": {f"feature_{k}": k % 2 == 0 for k in range(12)},
        },
        "limits": {"max_batch": 500, "rate_per_s": 1000, "burst": 200},
        "endpoints": [f"http://upstream-{k}.internal:8080/api" for k in range(6)],
        "labels": {"team": "platform", "tier": "gold", "index": i},
    }


def start_hub(database_url: str, label: str) -> Server:
    return spawn_hub(database_url, name=f"hub-{label}", log_path=LOG_DIR / f"hub-{label}.log")[0]


def start_reference(body: bytes, workdir: Path) -> Server:
    body_file = workdir / "config.json"
    body_file.write_bytes(body)
    port = free_port()
    ref = spawn(
        "starlette",
        [
            python(),
            str(Path(__file__).with_name("_starlette_ref.py")),
            str(port),
            str(body_file),
            str(body_file),
        ],
        port=port,
        log_path=LOG_DIR / "starlette.log",
        env=dict(os.environ),
    )
    wait_ready(ref, "/health", timeout=30)
    return ref


def start_etcd(workdir: Path) -> Server | None:
    etcd = shutil.which("etcd")
    if etcd is None:
        print("etcd not found (apt-get install -y etcd-server): no write reference", file=sys.stderr)
        return None
    cport, pport = free_port(), free_port()
    url = f"http://127.0.0.1:{cport}"
    server = spawn(
        "etcd",
        [
            etcd,
            "--name=bench",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{pport}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{pport}",
            f"--initial-cluster=bench=http://127.0.0.1:{pport}",
            "--log-level=error",
        ],
        port=cport,
        log_path=LOG_DIR / "etcd.log",
        env=dict(os.environ),
    )
    wait_ready(server, "/health", timeout=30)
    return server


def fmt(r: WrkResult) -> str:
    return (
        f"{r.rps:9.0f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
        f"errors {r.socket_errors} non-2xx {r.non2xx}"
    )


def bench_reads(hub: Server, names: list[str], workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    with httpx.Client(base_url=hub.url, timeout=30) as http:
        for i, name in enumerate(names):
            http.post(f"/api/v1/config/{name}", json=document(i)).raise_for_status()
        body = http.get(f"/api/v1/config/{names[0]}").content
    hub_script = workdir / "hub-reads.lua"
    hub_script.write_text(lua_paths_script([f"/api/v1/config/{n}" for n in names]))
    ref_script = workdir / "ref-reads.lua"
    ref_script.write_text(lua_paths_script([f"/api/v1/services/{n}" for n in names]))
    ref = start_reference(body, workdir)
    rounds: list[dict[str, Any]] = []
    try:
        run_wrk(hub.url, hub_script, connections=64, duration=1)  # warm-up
        run_wrk(ref.url, ref_script, connections=64, duration=1)
        for _ in range(args.rounds):
            h = run_wrk(hub.url, hub_script, connections=64, duration=args.duration)
            s = run_wrk(ref.url, ref_script, connections=64, duration=args.duration)
            rounds.append({"hub": h.as_dict(), "starlette": s.as_dict(), "ratio": h.rps / s.rps})
            print(f"  reads  hub       {fmt(h)}")
            print(f"  reads  starlette {fmt(s)}   hub/starlette x{h.rps / s.rps:.2f}")
    finally:
        ref.stop()
    return {"body_bytes": len(body), "rounds": rounds}


def bench_writes(url: str, path: str, bodies: list[str], workdir: Path, duration: float) -> WrkResult:
    script = workdir / "writes.lua"
    script.write_text(lua_bodies_script(path, bodies))
    return run_wrk(url, script, connections=WRITERS, duration=duration)


def hub_writes(hub: Server, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    service = f"writers-{os.getpid()}"
    bodies = [json.dumps(document(i)) for i in range(WRITERS)]
    with httpx.Client(base_url=hub.url, timeout=30) as http:
        http.post(f"/api/v1/config/{service}", json=document(-1)).raise_for_status()
        r = bench_writes(hub.url, f"/api/v1/config/{service}", bodies, workdir, args.duration)
        time.sleep(2)  # writes wrk stopped waiting for at its deadline are still being answered
        stored = http.get(f"/api/v1/config/{service}").json()["revision"]
        history: list[int] = []
        before: int | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"before": before} if before else {})}
            page = http.get(f"/api/v1/config/history/{service}", params=params).json()["history"]
            if not page:
                break
            history += [h["revision"] for h in page]
            before = page[-1]["revision"]
    ok = r.requests - r.non2xx
    contiguous = sorted(history) == list(range(1, stored + 1))
    # every acknowledged write is a stored revision (wrk's count leaves out the writes it
    # stopped waiting for at its deadline, which may be stored too: those are not "lost")
    lost = ok - (stored - 1)
    print(
        f"  writes hub       {r.rps:9.0f} writes/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
        f"refused (non-2xx) {r.non2xx}  errors {r.socket_errors}  revisions 1..{stored} contiguous "
        f"{contiguous}  acknowledged-but-missing {max(lost, 0)}"
    )
    return {"wrk": r.as_dict(), "revision": stored, "contiguous": contiguous, "missing": max(lost, 0)}


def etcd_writes(etcd: Server, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    key = base64.b64encode(b"/bench/writers").decode()
    bodies = [
        json.dumps({"key": key, "value": base64.b64encode(json.dumps(document(i)).encode()).decode()})
        for i in range(WRITERS)
    ]
    r = bench_writes(etcd.url, "/v3/kv/put", bodies, workdir, args.duration)
    print(
        f"  writes etcd      {r.rps:9.0f} writes/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
        f"non-2xx {r.non2xx}"
    )
    return {"wrk": r.as_dict()}


def bench_backend(label: str, url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    print(f"{label}:")
    hub = start_hub(url, label)
    try:
        names = [f"bench-config-{i:04d}" for i in range(args.services)]
        reads = bench_reads(hub, names, workdir, args)
        writes = hub_writes(hub, workdir, args)
    finally:
        hub.stop()
    return {"reads": reads, "writes": writes}


async def asgi_cost(n: int = 5000) -> dict[str, float]:
    """Per-request microseconds through the hub's app (config read) and bare Starlette."""
    from _asgi_cost import per_request_us
    from _starlette_ref import build_app

    from centralhub.core.settings import load_settings
    from centralhub.hub import Hub
    from centralhub.server.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env={},
            database_url=f"sqlite:///{Path(tmp) / 'hub.db'}",
            log_level="WARNING",
            rate_limit_per_minute=10**12,
            rate_limit_burst=10**12,
        )
        hub = Hub(settings)
        await hub.start()
        try:
            await hub.config_service.put("default", "svc", document(1), author="bench")
            app = create_app(settings, hub=hub)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
                body = (await c.get("/api/v1/config/svc")).content
            hub_us = await per_request_us(app, "/api/v1/config/svc", n)
            ref_us = await per_request_us(build_app(body, b"{}"), "/api/v1/services/svc", n)
            # the same read once a global document sits under every service's own (merged answer)
            await hub.config_service.put("default", "_global", {"region": "eu"}, author="bench")
            global_us = await per_request_us(app, "/api/v1/config/svc", n)
        finally:
            await hub.stop()
    return {
        "hub_config_read_us": round(hub_us, 1),
        "hub_config_read_with_global_us": round(global_us, 1),
        "starlette_us": round(ref_us, 1),
    }


def print_cost(cost: dict[str, float]) -> None:
    hub_us, ref_us = cost["hub_config_read_us"], cost["starlette_us"]
    global_us = cost["hub_config_read_with_global_us"]
    print(
        f"in process: hub config read {hub_us:.1f} us/request, bare Starlette {ref_us:.1f} us/request "
        f"(hub/starlette cost x{hub_us / ref_us:.2f}); with a global document under it "
        f"{global_us:.1f} us/request (x{global_us / hub_us:.2f} the plain read)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--json", type=Path, default=ROOT / ".bench" / "config_reads.json")
    ap.add_argument("--asgi-only", action="store_true", help="only the in-process figures (no wrk)")
    args = ap.parse_args()
    if args.asgi_only:
        print_cost(asyncio.run(asgi_cost()))
        return
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; wrk -t 2")
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with tempfile.TemporaryDirectory(prefix="config-reads-") as tmp:
        workdir = Path(tmp)
        etcd = start_etcd(workdir)
        if etcd is not None:
            try:
                print("etcd (write reference):")
                report["etcd"] = etcd_writes(etcd, workdir, args)
            finally:
                etcd.stop()
        for backend in [args.only] if args.only else ["sqlite", "postgres"]:
            if backend == "sqlite":
                report[backend] = bench_backend(backend, f"sqlite:///{workdir / 'hub.db'}", workdir, args)
            else:
                with temp_postgres_database() as url:
                    report[backend] = bench_backend(backend, url, workdir, args)
    cost = asyncio.run(asgi_cost())
    report["asgi_cost"] = cost
    print_cost(cost)
    print(
        "\nsummary (targets: reads >= 0.9x Starlette at 64 connections; "
        "50 writers >= 500 writes/s, 0 refused)"
    )
    for backend in ("sqlite", "postgres"):
        if backend not in report:
            continue
        rounds = report[backend]["reads"]["rounds"]
        ratio = sum(r["ratio"] for r in rounds) / len(rounds)
        w = report[backend]["writes"]
        ok_reads = ratio >= 0.9
        ok_writes = (
            w["wrk"]["rps"] >= 500 and w["wrk"]["non2xx"] == 0 and w["contiguous"] and not w["missing"]
        )
        etcd_rps = report.get("etcd", {}).get("wrk", {}).get("rps")
        vs_etcd = f" (etcd {etcd_rps:.0f}/s, x{w['wrk']['rps'] / etcd_rps:.2f})" if etcd_rps else ""
        print(
            f"  {backend:8} reads hub/starlette x{ratio:.2f} {'met' if ok_reads else 'MISS'}; "
            f"writes {w['wrk']['rps']:.0f}/s{vs_etcd}, refused {w['wrk']['non2xx']} "
            f"{'met' if ok_writes else 'MISS'}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()

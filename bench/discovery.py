"""Discovery benchmark: the hub's hot reads and heartbeats beside two references measured in the same run.

For SQLite and then a fresh temporary PostgreSQL database, it starts the real hub process
(``python -m centralhub.cli serve``), registers 1,000 services x 3 instances and drives
``GET /api/v1/services/{name}`` and ``GET /api/v1/services/{name}/endpoint`` with wrk at 16, 64
and 1,000 connections, spreading requests over every service name. The same wrk script then
drives a bare Starlette route on the same uvicorn settings (the Python ceiling) and nginx
serving a static file of the same size (the machine's ceiling). With 10,000 instances it
measures heartbeats/s (wrk POST spread over instance ids), resident memory, and the time from
process spawn to the first 200 on ``/health``.

Run ``.venv/bin/python bench/discovery.py [--quick] [--only sqlite|postgres] [--profile]``;
the table is printed and written to ``.bench/discovery.json``. Needs ``wrk`` and ``nginx``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    require_tool,
    run_wrk,
    spawn,
    start_nginx,
    temp_postgres_database,
    wait_ready,
)
from _util import (  # noqa: E402 - bench/ is not a package
    start_hub as spawn_hub,
)

TENANT = "default"
#: servers' output, kept for a post-mortem (one directory per run: runs may overlap)
LOG_DIR = ROOT / ".bench" / "logs" / f"discovery-{time.strftime('%H%M%S')}-{os.getpid()}"
SERVICE_ROUTE = "service"
ENDPOINT_ROUTE = "endpoint"


def service_name(i: int) -> str:
    return f"bench-svc-{i:04d}"


def route_path(route: str, name: str) -> str:
    base = f"/api/v1/services/{name}"
    return base if route == SERVICE_ROUTE else base + "/endpoint"


# --------------------------------------------------------------------------- hub process
def start_hub(database_url: str, workdir: Path, label: str) -> tuple[Server, float]:
    """Spawn ``centralhub serve``; returns it and seconds from spawn to the first 200 on /health."""
    return spawn_hub(database_url, name=f"hub-{label}", log_path=LOG_DIR / f"hub-{label}.log")


async def _register(url: str, regs: list[dict[str, Any]], concurrency: int = 50) -> list[tuple[str, str]]:
    """Register ``regs`` with ``concurrency`` requests in flight; returns (service, instance id)."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(body: dict[str, Any]) -> tuple[str, str]:
            async with sem:
                # registering is idempotent (same name, host and port keep their id), so a
                # connection dropped by a starved server is retried rather than fatal
                for attempt in range(3):
                    try:
                        resp = await client.post(
                            "/api/v1/services/register", json=body, headers={"X-Tenant-ID": TENANT}
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                        await asyncio.sleep(0.5)
            if resp.status_code != 201:
                raise RuntimeError(f"register {body['name']} -> {resp.status_code}: {resp.text[:300]}")
            return body["name"], resp.json()["instance_id"]

        return await asyncio.gather(*(one(r) for r in regs))


def registrations(services: int, first: int, last: int) -> list[dict[str, Any]]:
    """Instance ``first..last-1`` of every service (instance j of service i has port 9000+j)."""
    return [
        {
            "name": service_name(i),
            "host": f"10.{i // 256 % 256}.{i % 256}.{j}",
            "port": 9000 + j,
            "protocol": "http",
            "version": "1.0.0",
            "ttl_seconds": 3600,  # nothing may expire while wrk is busy
            "metadata": {"bench": True, "zone": f"z{j % 3}"},
            "tags": ["bench"],
        }
        for j in range(first, last)
        for i in range(services)
    ]


def register(url: str, regs: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], float]:
    t0 = time.perf_counter()
    ids = asyncio.run(_register(url, regs))
    return ids, time.perf_counter() - t0


# --------------------------------------------------------------------------- profiling
@contextmanager
def py_spy(pid: int, seconds: float, out: Path) -> Iterator[None]:
    """Record ``pid`` with py-spy (raw collapsed stacks) while the body runs."""
    exe = shutil.which("py-spy") or str(Path(python()).parent / "py-spy")
    if not Path(exe).exists():
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    proc = subprocess.Popen(
        [
            exe,
            "record",
            "-d",
            str(max(1, round(seconds))),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            str(out),
            "--pid",
            str(pid),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        try:
            _, err = proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0:
            print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)


def summarize_profile(raw: Path, top: int = 18) -> dict[str, list[tuple[str, float]]]:
    """Self and inclusive time shares per function from py-spy's raw (collapsed) output."""
    self_t: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        # uvloop runs callbacks from C: a stack ending in the start-up frames is the loop itself
        # (epoll wait, idle); everything else is a callback or task step rooted at its own frame
        roots = [i for i, f in enumerate(frames) if f.startswith("Runner.run ")]
        if roots:
            frames = frames[roots[-1] + 1 :] or ["<event loop in C: epoll, idle, uvloop internals>"]
        self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [(f, round(100 * n / total, 1)) for f, n in self_t.most_common(top)],
        "inclusive": [(f, round(100 * n / total, 1)) for f, n in incl.most_common(top + 12)],
    }


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)"; line numbers split identical functions
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if parts else file
    return f"{name} ({short})"


# --------------------------------------------------------------------------- one backend
def bench_hub(
    backend: str, database_url: str, args: argparse.Namespace, workdir: Path, scripts: dict[str, Path]
) -> dict[str, Any]:
    """Every hub figure on one database, with the references measured alongside."""
    out: dict[str, Any] = {"backend": backend}
    hub, ready = start_hub(database_url, workdir, backend)
    out["ready_s"] = round(ready, 3)
    print(f"[{backend}] hub pid {hub.proc.pid} ready in {ready:.2f}s", flush=True)
    try:
        ids, took = register(hub.url, registrations(args.services, 0, args.instances))
        n = len(ids)
        out["register_per_s"] = round(n / took, 1)
        print(f"[{backend}] registered {n} instances in {took:.1f}s ({n / took:.0f}/s)", flush=True)
        with httpx.Client(base_url=hub.url, timeout=10) as c:
            out["service_body"] = c.get(route_path(SERVICE_ROUTE, service_name(0))).content
            out["endpoint_body"] = c.get(route_path(ENDPOINT_ROUTE, service_name(0))).content
        bodies = {SERVICE_ROUTE: out.pop("service_body"), ENDPOINT_ROUTE: out.pop("endpoint_body")}
        out["body_bytes"] = {route: len(body) for route, body in bodies.items()}
        with references(bodies, workdir) as refs:
            measured = drive({f"hub/{backend}": hub, **refs}, scripts, args)
        out["wrk"] = measured.pop(f"hub/{backend}")
        out["refs"] = measured
        if args.profile:
            prof = ROOT / ".bench" / f"profile-{backend}-service.txt"
            with py_spy(hub.proc.pid, args.duration, prof):
                run_wrk(hub.url, scripts[SERVICE_ROUTE], connections=64, duration=args.duration)
            out["profile"] = summarize_profile(prof)
            out["profile_file"] = str(prof.relative_to(ROOT))

        # grow to 10,000 instances: 7 more per service
        per_service = max(args.instances, -(-args.hb_instances // args.services))
        more, took = register(hub.url, registrations(args.services, args.instances, per_service))
        ids += more
        print(f"[{backend}] {len(ids)} instances registered (+{len(more)} in {took:.1f}s)", flush=True)
        hb_script = workdir / f"heartbeat-{backend}.lua"
        hb_paths = [f"/api/v1/services/{s}/instances/{i}/heartbeat" for s, i in ids]
        hb_script.write_text(lua_paths_script(hb_paths, method="POST", body='{"load": 0.5}'))
        if not args.quick:
            run_wrk(hub.url, hb_script, connections=args.hb_connections, duration=1)  # warm-up
        hb = run_wrk(hub.url, hb_script, connections=args.hb_connections, duration=args.duration)
        out["heartbeats"] = hb.as_dict() | {"connections": args.hb_connections}
        print(
            f"[{backend}] heartbeats {hb.rps:,.0f}/s p50 {hb.p50_ms:.2f} ms p99 {hb.p99_ms:.2f} ms "
            f"errors {hb.socket_errors} non-2xx {hb.non2xx}",
            flush=True,
        )
        # the same heartbeats, 100 per request (POST /api/v1/heartbeats): a process hosting many
        # instances, or a sidecar, reports them together
        per = 100
        bodies = [
            json.dumps({"heartbeats": [{"service": s, "instance_id": i} for s, i in ids[k : k + per]]})
            for k in range(0, len(ids) - per + 1, per)
        ]
        hbb_script = workdir / f"heartbeat-batch-{backend}.lua"
        hbb_script.write_text(lua_bodies_script("/api/v1/heartbeats", bodies))
        hbb = run_wrk(hub.url, hbb_script, connections=16, duration=args.duration)
        out["heartbeats_batch"] = hbb.as_dict() | {"per_request": per, "heartbeats_per_s": hbb.rps * per}
        print(
            f"[{backend}] batched heartbeats {hbb.rps * per:,.0f}/s ({hbb.rps:,.0f} req/s of {per}) "
            f"p99 {hbb.p99_ms:.2f} ms errors {hbb.socket_errors} non-2xx {hbb.non2xx}",
            flush=True,
        )
        out["instances"] = len(ids)
        out["rss_mb_10k"] = round(hub.rss_mb(), 1)
    finally:
        hub.stop()
    # a restart reloads the 10,000 stored instances: the ready time a real deployment sees
    hub, ready = start_hub(database_url, workdir, f"{backend}-restart")
    hub.stop()
    out["ready_s_10k"] = round(ready, 3)
    print(f"[{backend}] restart with {out['instances']} instances ready in {ready:.2f}s", flush=True)
    return out


def drive(
    servers: dict[str, Server], scripts: dict[str, Path], args: argparse.Namespace
) -> dict[str, dict[str, dict[str, Any]]]:
    """wrk on every server, route and connection count; {server: {route: {connections: figures}}}.

    The servers take turns for each (route, connections) pair, so the hub and its references
    are measured seconds apart under the same background load on a shared machine.
    """
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in servers}
    for route, script in scripts.items():
        if not args.quick:
            for server in servers.values():
                run_wrk(server.url, script, connections=64, duration=1)  # warm-up
        for conns in args.connections:
            for name, server in servers.items():
                r: WrkResult = run_wrk(server.url, script, connections=conns, duration=args.duration)
                results[name].setdefault(route, {})[str(conns)] = r.as_dict()
                print(
                    f"  {name:16} {route:8} c={conns:<5} {r.rps:>9,.0f} req/s  p50 {r.p50_ms:7.2f} ms  "
                    f"p99 {r.p99_ms:7.2f} ms  sock-err {r.socket_errors}  non-2xx {r.non2xx}",
                    flush=True,
                )
    return results


@contextmanager
def references(bodies: dict[str, bytes], workdir: Path) -> Iterator[dict[str, Server]]:
    """Bare Starlette on the hub's uvicorn settings, and nginx, serving the same bodies."""
    svc_file, ep_file = workdir / "service.json", workdir / "endpoint.json"
    svc_file.write_bytes(bodies[SERVICE_ROUTE])
    ep_file.write_bytes(bodies[ENDPOINT_ROUTE])
    port = free_port()
    ref = spawn(
        "starlette",
        [
            python(),
            str(Path(__file__).with_name("_starlette_ref.py")),
            str(port),
            str(svc_file),
            str(ep_file),
        ],
        port=port,
        log_path=LOG_DIR / "starlette.log",
        env=dict(os.environ),
    )
    try:
        wait_ready(ref, "/health", timeout=30)
        nginx = start_nginx(workdir, service_body=bodies[SERVICE_ROUTE], endpoint_body=bodies[ENDPOINT_ROUTE])
        try:
            yield {"starlette": ref, "nginx": nginx}
        finally:
            nginx.stop()
    finally:
        ref.stop()


# --------------------------------------------------------------------------- report
def build_rows(hubs: list[dict[str, Any]], conns: list[int]) -> list[dict[str, Any]]:
    rows = []
    for h in hubs:
        for route in (SERVICE_ROUTE, ENDPOINT_ROUTE):
            for c in conns:
                key = str(c)
                st, ng = h["refs"]["starlette"][route][key], h["refs"]["nginx"][route][key]
                r = h["wrk"][route][key]
                rows.append(
                    {
                        "target": f"hub/{h['backend']}",
                        "route": route,
                        "connections": c,
                        **r,
                        "vs_starlette": round(r["rps"] / st["rps"], 3) if st["rps"] else None,
                        "vs_nginx": round(r["rps"] / ng["rps"], 3) if ng["rps"] else None,
                    }
                )
                rows.append({"target": f"starlette ({h['backend']})", "route": route, "connections": c, **st})
                rows.append({"target": f"nginx ({h['backend']})", "route": route, "connections": c, **ng})
    return rows


def print_table(rows: list[dict[str, Any]], hubs: list[dict[str, Any]], body_sizes: dict[str, int]) -> None:
    print()
    print(
        f"Discovery read path (body: service {body_sizes[SERVICE_ROUTE]} B, "
        f"endpoint {body_sizes[ENDPOINT_ROUTE]} B)"
    )
    head = (
        f"{'target':20} {'route':8} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'sock-err':>8} {'non-2xx':>7} {'hub/starlette':>13} {'hub/nginx':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        vs_st = f"{r['vs_starlette']:.2f}" if r.get("vs_starlette") is not None else ""
        vs_ng = f"{r['vs_nginx']:.2f}" if r.get("vs_nginx") is not None else ""
        print(
            f"{r['target']:20} {r['route']:8} {r['connections']:>5} {r['rps']:>9,.0f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['socket_errors']:>8} {r['non2xx']:>7} {vs_st:>13} {vs_ng:>9}"
        )
    print()
    head = (
        f"{'hub':15} {'heartbeats/s':>12} {'batched hb/s':>12} {'hb p99 ms':>9} {'hb err':>6} {'ready s':>8} "
        f"{'ready s (10k)':>13} {'RSS MB (10k)':>12} {'register/s':>10}"
    )
    print(head)
    print("-" * len(head))
    for h in hubs:
        hb = h["heartbeats"]
        print(
            f"{'hub/' + h['backend']:15} {hb['rps']:>12,.0f} "
            f"{h.get('heartbeats_batch', {}).get('heartbeats_per_s', 0):>12,.0f} {hb['p99_ms']:>9.2f} "
            f"{hb['socket_errors'] + hb['non2xx']:>6} {h['ready_s']:>8.2f} {h['ready_s_10k']:>13.2f} "
            f"{h['rss_mb_10k']:>12.1f} {h['register_per_s']:>10,.0f}"
        )


def verdicts(rows: list[dict[str, Any]], hubs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target per hub backend: the figure, the target and whether it is met."""
    out = []

    def add(backend: str, what: str, value: float, target: float, ok: bool) -> None:
        out.append({"backend": backend, "target": what, "value": value, "goal": target, "met": ok})

    for h in hubs:
        b = h["backend"]
        mine = [r for r in rows if r["target"] == f"hub/{b}"]
        for r in mine:
            if r["connections"] == 64:
                add(
                    b,
                    f"{r['route']} req/s vs Starlette @64 >= 0.9",
                    r["vs_starlette"],
                    0.9,
                    r["vs_starlette"] >= 0.9,
                )
            if r["connections"] == 16:
                add(b, f"{r['route']} p99 ms @16 < 2", r["p99_ms"], 2.0, r["p99_ms"] < 2.0)
            if r["connections"] == 1000:
                errs = r["socket_errors"] + r["non2xx"]
                add(b, f"{r['route']} errors @1000 == 0", errs, 0, errs == 0)
        hb = h["heartbeats"]
        add(b, "heartbeats/s >= 10000", hb["rps"], 10_000, hb["rps"] >= 10_000)
        batched = h.get("heartbeats_batch", {}).get("heartbeats_per_s", 0)
        add(b, "heartbeats/s batched by 100 >= 10000", batched, 10_000, batched >= 10_000)
        add(
            b,
            "heartbeat errors == 0",
            hb["socket_errors"] + hb["non2xx"],
            0,
            hb["socket_errors"] + hb["non2xx"] == 0,
        )
        add(b, "ready s (empty db) < 2", h["ready_s"], 2.0, h["ready_s"] < 2.0)
        add(b, "RSS MB with 10k instances < 150", h["rss_mb_10k"], 150.0, h["rss_mb_10k"] < 150.0)
    return out


def print_verdicts(items: list[dict[str, Any]]) -> None:
    print()
    print("Targets")
    for v in items:
        mark = "met " if v["met"] else "MISS"
        print(f"  [{mark}] {v['backend']:8} {v['target']:42} {v['value']}")


def print_profile(hubs: list[dict[str, Any]]) -> None:
    for h in hubs:
        prof = h.get("profile")
        if not prof:
            continue
        print()
        print(f"Profile of hub/{h['backend']} on GET /api/v1/services/{{name}} @64 ({h['profile_file']})")
        print("  self time:")
        for f, pct in prof["self"]:
            print(f"    {pct:5.1f}%  {f}")
        print("  inclusive:")
        for f, pct in prof["inclusive"]:
            print(f"    {pct:5.1f}%  {f}")


def git_commit() -> str:
    """HEAD, with ``+dirty`` when src/ has uncommitted changes (the hub code measured)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 s runs, no warm-up (a smoke run)")
    p.add_argument("--only", choices=("sqlite", "postgres"), help="one database only")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 5, --quick 2)")
    p.add_argument("--connections", default="16,64,1000", help="wrk connection counts for the reads")
    p.add_argument("--hb-connections", type=int, default=256, help="wrk connections for heartbeats")
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--instances", type=int, default=3, help="instances per service for the reads")
    p.add_argument("--hb-instances", type=int, default=10_000, help="instances for heartbeats and RSS")
    p.add_argument("--profile", action="store_true", help="py-spy the hub's GET route at 64 connections")
    p.add_argument("--json", type=Path, default=ROOT / ".bench" / "discovery.json")
    args = p.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.connections = [int(c) for c in args.connections.split(",")]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    require_tool("wrk")
    require_tool("nginx")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    commit = git_commit()  # before the run: others may commit while it goes on
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
        f"{platform.python_implementation()} {platform.python_version()}, hub at {commit}; "
        "nothing is pinned, "
        "wrk (-t 2), the hub and the references share the cores"
    )
    backends = [args.only] if args.only else ["sqlite", "postgres"]
    ref_scripts: dict[str, Path] = {}
    hubs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="centralhub-bench-") as tmp:
        workdir = Path(tmp)
        names = [service_name(i) for i in range(args.services)]
        for route in (SERVICE_ROUTE, ENDPOINT_ROUTE):
            ref_scripts[route] = workdir / f"{route}.lua"
            ref_scripts[route].write_text(lua_paths_script([route_path(route, n) for n in names]))
        for backend in backends:
            if backend == "sqlite":
                hubs.append(bench_hub(backend, f"sqlite:///{workdir / 'hub.db'}", args, workdir, ref_scripts))
            else:
                with temp_postgres_database() as url:
                    hubs.append(bench_hub(backend, url, args, workdir, ref_scripts))
    body_sizes = hubs[0]["body_bytes"]
    rows = build_rows(hubs, args.connections)
    checks = verdicts(rows, hubs)
    print_table(rows, hubs, body_sizes)
    print_verdicts(checks)
    print_profile(hubs)
    elapsed = time.perf_counter() - started
    report = {
        "benchmark": "discovery",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "load_average_end": os.getloadavg(), "pinned": False},
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "heartbeat_connections": args.hb_connections,
            "wrk_threads": 2,
            "services": args.services,
            "instances_per_service": args.instances,
            "heartbeat_instances": args.hb_instances,
            "quick": args.quick,
        },
        "body_bytes": body_sizes,
        "rows": rows,
        "hubs": hubs,
        "targets": checks,
        "elapsed_s": round(elapsed, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.json} in {elapsed:.0f}s")


if __name__ == "__main__":
    main()

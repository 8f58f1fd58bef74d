"""Scale benchmark: the hub holding 100,000 instances, against itself holding 100.

On a fresh temporary PostgreSQL database it:

1. spawns the real hub (``python -m centralhub.cli serve``), registers a small registry over
   HTTP (100 instances: 10 services x 10) and drives ``GET /api/v1/services/{name}`` and
   ``…/endpoint`` with wrk at 64 connections: the reference figures;
2. stops it and seeds the database up to 100,000 instances (10,000 services x 10). With the
   batch endpoint ``POST /api/v1/services/register/batch`` present it seeds through that;
   otherwise in-process through the hub's table definition, one multi-row INSERT per chunk (the
   output says which);
3. restarts the hub on that database and times spawn -> first 200 on ``/health`` (the registry
   is loaded before the server accepts connections), reads ``VmRSS`` from ``/proc/PID/status``
   and drives the same wrk runs over all 10,000 services;
4. starts two hub processes on the same database with NATS (a cluster name of this run's own),
   keeps 10,000 instances heartbeating (``POST /api/v1/heartbeats``, 100 per request, spread
   over both replicas, each instance every ``--hb-interval`` seconds), and measures how long a
   registration on replica A takes to show in replica B's ``GET /api/v1/services/{name}``.

Every figure is printed beside its reference from the same run, with the ratio; everything is
written to ``.bench/scale.json``. Run ``python bench/scale.py [--quick]``; needs ``wrk`` and
``nats-server`` (or a NATS at ``BENCH_NATS_URL``, default ``nats://127.0.0.1:4222``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import (
    ROOT,
    Server,
    WrkResult,
    lua_paths_script,
    run_wrk,
    temp_postgres_database,
)
from _util import (  # noqa: E402 - bench/ is not a package
    start_hub as spawn_hub,
)

TENANT = "default"
LOG_DIR = ROOT / ".bench" / "logs" / f"scale-{time.strftime('%H%M%S')}-{os.getpid()}"
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
ROUTES = ("service", "endpoint")


def service_name(i: int) -> str:
    return f"scale-svc-{i:05d}"


def route_path(route: str, name: str) -> str:
    base = f"/api/v1/services/{name}"
    return base if route == "service" else base + "/endpoint"


def registration(i: int, j: int) -> dict[str, Any]:
    """Instance ``j`` of service ``i``; ``ttl_seconds`` is long so nothing expires mid-run."""
    return {
        "name": service_name(i),
        "host": f"10.{i // 256 % 256}.{i % 256}.{j}",
        "port": 9000 + j,
        "protocol": "http",
        "version": "1.0.0",
        "ttl_seconds": 3600,
        "metadata": {"bench": True, "zone": f"z{j % 3}"},
        "tags": ["bench"],
    }


# --------------------------------------------------------------------------- hub processes
def start_hub(database_url: str, label: str, extra_env: dict[str, str] | None = None) -> tuple[Server, float]:
    """Spawn ``centralhub serve`` (this tree's code: ``PYTHONPATH`` is passed on); returns it
    and seconds from spawn to the first 200 on ``/health``."""
    return spawn_hub(
        database_url,
        name=f"hub-{label}",
        log_path=LOG_DIR / f"hub-{label}.log",
        extra_env={"CENTRAL_HUB_MAX_CONNECTIONS": "100000", **(extra_env or {})},
        timeout=120,
    )


def cpu_seconds(server: Server) -> float:
    """User + system CPU time the process has used (``/proc/PID/stat``): unlike the wall time
    to ready, it hardly moves with the load other processes put on the machine."""
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def registered_count(server: Server) -> int:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return int(c.get("/discovery/health", headers={"X-Tenant-ID": TENANT}).json()["instances"])


# --------------------------------------------------------------------------- seeding
async def _register_http(url: str, bodies: list[dict[str, Any]], concurrency: int = 32) -> list[str]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(body: dict[str, Any]) -> str:
            async with sem:
                r = await client.post("/api/v1/services/register", json=body, headers={"X-Tenant-ID": TENANT})
            if r.status_code != 201:
                raise RuntimeError(f"register -> {r.status_code}: {r.text[:300]}")
            return str(r.json()["instance_id"])

        return await asyncio.gather(*(one(b) for b in bodies))


def batch_endpoint_available(server: Server) -> bool:
    """Whether this hub has ``POST /api/v1/services/register/batch`` (listed in its OpenAPI)."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return "/api/v1/services/register/batch" in c.get("/openapi.json").json().get("paths", {})


async def _register_batches(url: str, bodies: list[dict[str, Any]], per: int = 1000) -> None:
    """``per`` registrations a request, 4 requests in flight; every item must be stored."""
    sem = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(items: list[dict[str, Any]]) -> None:
            async with sem:
                r = await client.post(
                    "/api/v1/services/register/batch",
                    json={"instances": items},
                    headers={"X-Tenant-ID": TENANT},
                )
            if r.status_code != 201:
                raise RuntimeError(f"batch register -> {r.status_code}: {r.text[:300]}")

        await asyncio.gather(*(one(bodies[k : k + per]) for k in range(0, len(bodies), per)))


async def _seed_in_process(database_url: str, bodies: list[dict[str, Any]], chunk: int = 5000) -> None:
    """Insert rows straight into the hub's table (what a restart then loads)."""
    from sqlalchemy import insert

    from centralhub.core.database import Database
    from centralhub.core.tables import service_instances as t

    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        for k in range(0, len(bodies), chunk):
            rows = [
                {
                    "id": uuid.uuid4().hex,
                    "tenant_id": TENANT,
                    "service_name": b["name"],
                    "host": b["host"],
                    "port": b["port"],
                    "protocol": b["protocol"],
                    "health_endpoint": None,
                    "version": b["version"],
                    "metadata": b["metadata"],
                    "tags": b["tags"],
                    "status": "passing",
                    "registered_at": now,
                    "last_seen": now,
                    "transport_preferences": [],
                    "contract_validated": False,
                    "weight": 1,
                    "ttl_seconds": b["ttl_seconds"],
                    "dependencies": [],
                    "check_spec": None,
                }
                for b in bodies[k : k + chunk]
            ]
            async with db.engine.begin() as conn:
                await conn.execute(insert(t), rows)
    finally:
        await db.close()


async def _instance_ids(database_url: str, limit: int) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from centralhub.core.database import Database
    from centralhub.core.tables import service_instances as t

    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(t.c.service_name, t.c.id).limit(limit))).all()
    finally:
        await db.close()
    return [(r[0], r[1]) for r in rows]


# --------------------------------------------------------------------------- discovery
def discovery(hubs: dict[str, tuple[Server, int]], args: argparse.Namespace) -> dict[str, Any]:
    """wrk at ``args.connections`` on both routes of every hub (``label -> (server, services)``,
    each script walking all of that hub's service names). The hubs take turns for each round,
    the order swapped from round to round, so they share the same background load on a busy
    machine; each figure is the median over ``args.rounds`` rounds."""
    scripts: dict[tuple[str, str], Path] = {}
    for label, (server, services) in hubs.items():
        if not args.quick:
            # every service read once before measuring, at 100 instances as at 100,000: the
            # figures compare answers from the view, not the first serialization of each
            asyncio.run(_read_all(server.url, services))
        for route in ROUTES:
            script = scripts[(label, route)] = LOG_DIR / f"{label}-{route}.lua"
            script.write_text(lua_paths_script([route_path(route, service_name(i)) for i in range(services)]))
    out: dict[str, Any] = {label: {route: {"rounds": []} for route in ROUTES} for label in hubs}
    for route in ROUTES:
        if not args.quick:
            # long enough for round-robin to have handed out (and the hub to have serialized
            # the endpoint answer of) nearly every instance of the large registry once
            for label, (server, _) in hubs.items():
                script = scripts[(label, route)]
                run_wrk(server.url, script, connections=args.connections, duration=args.warmup)
        for n in range(args.rounds):
            for label in list(hubs) if n % 2 == 0 else list(reversed(hubs)):
                server = hubs[label][0]
                r: WrkResult = run_wrk(
                    server.url, scripts[(label, route)], connections=args.connections, duration=args.duration
                )
                out[label][route]["rounds"].append(r.as_dict())
                print(
                    f"  {label:6} {route:8} c={args.connections} {r.rps:>8,.0f} req/s  "
                    f"p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
                    f"sock-err {r.socket_errors}  non-2xx {r.non2xx}",
                    flush=True,
                )
        for label in hubs:
            rounds = out[label][route]["rounds"]
            for key in ("rps", "p50_ms", "p99_ms"):
                out[label][route][key] = round(statistics.median(x[key] for x in rounds), 3)
    return out


async def _read_all(url: str, services: int, concurrency: int = 16) -> None:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(path: str) -> None:
            async with sem:
                await client.get(path, headers={"X-Tenant-ID": TENANT})

        await asyncio.gather(*(one(route_path(r, service_name(i))) for i in range(services) for r in ROUTES))


# --------------------------------------------------------------------------- replicas
class HeartbeatLoad(threading.Thread):
    """Keeps ``ids`` heartbeating, each every ``interval`` seconds, 100 per request, the
    requests alternating between ``urls`` (own thread and event loop, so the latency probe's
    loop is not slowed by it)."""

    def __init__(self, urls: list[str], ids: list[tuple[str, str]], interval: float) -> None:
        super().__init__(daemon=True)
        self.urls, self.ids, self.interval = urls, ids, interval
        self.stop_flag = threading.Event()
        self.sent = 0
        self.failed = 0
        self.lag_s = 0.0

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        per = 100
        bodies = [
            {"heartbeats": [{"service": s, "instance_id": i} for s, i in self.ids[k : k + per]]}
            for k in range(0, len(self.ids), per)
        ]
        gap = self.interval / max(1, len(bodies))
        clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in self.urls]
        inflight: set[asyncio.Task[None]] = set()

        async def send(n: int) -> None:
            try:
                r = await clients[n % len(clients)].post(
                    "/api/v1/heartbeats", json=bodies[n % len(bodies)], headers={"X-Tenant-ID": TENANT}
                )
                if r.status_code == 200:
                    self.sent += per
                else:
                    self.failed += 1
            except httpx.HTTPError:
                self.failed += 1

        t0 = time.perf_counter()
        n = 0
        try:
            while not self.stop_flag.is_set():
                due = t0 + n * gap
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.lag_s = max(self.lag_s, -delay)
                task = asyncio.create_task(send(n))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                n += 1
            if inflight:
                await asyncio.wait(inflight, timeout=30)
        finally:
            for c in clients:
                await c.aclose()


async def _visibility(a: Server, b: Server, count: int, timeout: float = 10.0) -> dict[str, Any]:
    """Register ``count`` new instances on ``a`` one after another; for each, the seconds from
    sending the registration to ``b`` listing it (and to ``a``'s 201)."""
    seen_after: list[float] = []
    acked_after: list[float] = []
    after_ack: list[float] = []
    missed = 0
    run = uuid.uuid4().hex[:6]
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as ca,
        httpx.AsyncClient(base_url=b.url, timeout=30) as cb,
    ):
        for k in range(count):
            # half new services, half a new instance of a service B already holds
            name = f"vis-{run}-{k}" if k % 2 == 0 else service_name(k)
            body = registration(0, 0) | {"name": name, "host": f"192.168.{k // 250}.{k % 250}", "port": 7000}
            t0 = time.perf_counter()
            r = await ca.post("/api/v1/services/register", json=body, headers={"X-Tenant-ID": TENANT})
            acked_after.append(time.perf_counter() - t0)
            if r.status_code != 201:
                raise RuntimeError(f"register on A -> {r.status_code}: {r.text[:300]}")
            iid = r.json()["instance_id"]
            deadline = t0 + timeout
            while True:
                g = await cb.get(f"/api/v1/services/{name}", headers={"X-Tenant-ID": TENANT})
                if g.status_code == 200 and iid.encode() in g.content:
                    seen_after.append(time.perf_counter() - t0)
                    after_ack.append(seen_after[-1] - acked_after[-1])
                    break
                if time.perf_counter() > deadline:
                    missed += 1
                    break
            await asyncio.sleep(0.02)
    return {"seen": seen_after, "acked": acked_after, "after_ack": after_ack, "missed": missed}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def replicas(database_url: str, ids: list[tuple[str, str]], args: argparse.Namespace) -> dict[str, Any]:
    cluster = f"scale{uuid.uuid4().hex[:8]}"
    env = {"NATS_URL": NATS_URL, "CENTRAL_HUB_CLUSTER": cluster}
    a, ready_a = start_hub(database_url, "replica-a", env)
    try:
        b, ready_b = start_hub(database_url, "replica-b", env)
    except BaseException:
        a.stop()
        raise
    out: dict[str, Any] = {"cluster": cluster, "ready_s": [round(ready_a, 3), round(ready_b, 3)]}
    print(f"[replicas] A ready {ready_a:.2f}s, B ready {ready_b:.2f}s (cluster {cluster})", flush=True)
    load = HeartbeatLoad([a.url, b.url], ids, args.hb_interval)
    try:
        # idle first: the reference for the same probe under heartbeat load
        idle = asyncio.run(_visibility(a, b, max(20, args.visibility // 4)))
        load.start()
        time.sleep(min(args.hb_interval, 5.0))  # every instance has beaten at least once or so
        busy = asyncio.run(_visibility(a, b, args.visibility))
        out["rss_mb"] = [round(a.rss_mb(), 1), round(b.rss_mb(), 1)]
    finally:
        load.stop_flag.set()
        load.join(60)
        a.stop()
        b.stop()
    for label, res in (("idle", idle), ("heartbeating", busy)):
        seen = res["seen"]
        out[label] = {
            "registrations": len(seen) + res["missed"],
            "missed": res["missed"],
            "visible_p50_ms": round(pct(seen, 0.5) * 1000, 2),
            "visible_p99_ms": round(pct(seen, 0.99) * 1000, 2),
            "visible_max_ms": round(max(seen) * 1000, 2) if seen else None,
            "ack_p50_ms": round(statistics.median(res["acked"]) * 1000, 2),
            # from A's 201 to B listing it: the replication alone
            "after_ack_p50_ms": round(pct(res["after_ack"], 0.5) * 1000, 2),
            "after_ack_p99_ms": round(pct(res["after_ack"], 0.99) * 1000, 2),
        }
    out["heartbeats"] = {
        "instances": len(ids),
        "interval_s": args.hb_interval,
        "target_per_s": round(len(ids) / args.hb_interval),
        "sent": load.sent,
        "failed_requests": load.failed,
        "max_pacing_lag_s": round(load.lag_s, 3),
    }
    return out


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instances", type=int, default=100_000)
    p.add_argument("--small", type=int, default=100, help="instances of the reference registry")
    p.add_argument("--per-service", type=int, default=10)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of wrk per hub and route first")
    p.add_argument("--rounds", type=int, default=3, help="wrk runs per hub and route (the median is kept)")
    p.add_argument("--visibility", type=int, default=200, help="registrations timed across replicas")
    p.add_argument("--hb-instances", type=int, default=10_000)
    p.add_argument("--hb-interval", type=float, default=5.0, help="seconds between two beats of one instance")
    p.add_argument("--skip-replicas", action="store_true")
    p.add_argument("--quick", action="store_true", help="2 s wrk runs, no warm-up, 50 registrations timed")
    p.add_argument("--json", type=Path, default=ROOT / ".bench" / "scale.json")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.visibility, args.rounds = 2.0, 50, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; logs in {LOG_DIR}", flush=True)
    per = args.per_service
    small_services = args.small // per
    big_services = args.instances // per
    result: dict[str, Any] = {"instances": big_services * per, "reference_instances": small_services * per}
    with temp_postgres_database() as url_small, temp_postgres_database() as url:
        # ---- the reference: 100 instances, registered, then the hub restarted on them
        hub, _ = start_hub(url_small, "small-seed")
        try:
            asyncio.run(
                _register_http(
                    hub.url, [registration(i, j) for j in range(per) for i in range(small_services)]
                )
            )
        finally:
            hub.stop()
        small, ready = start_hub(url_small, "small")
        try:
            count = registered_count(small)
            result["small"] = {"ready_s": round(ready, 3), "ready_cpu_s": round(cpu_seconds(small), 2)}
            result["small"] |= {"instances": count, "rss_mb_at_ready": round(small.rss_mb(), 1)}
            print(f"[{count}] restart -> ready in {ready:.2f}s", flush=True)

            # ---- a second database grown to 100,000
            hub, _ = start_hub(url, "big-seed")
            try:
                batch = batch_endpoint_available(hub)
                everything = [registration(i, j) for j in range(per) for i in range(big_services)]
                t0 = time.perf_counter()
                if batch:
                    asyncio.run(_register_batches(hub.url, everything))
                    seeded = time.perf_counter() - t0
                    how = "POST /api/v1/services/register/batch (1,000 per request, 4 in flight)"
                    # grown by registrations rather than loaded at start
                    result["rss_mb_registered_live"] = round(hub.rss_mb(), 1)
            finally:
                hub.stop()
            if not batch:
                asyncio.run(_seed_in_process(url, everything))
                seeded = time.perf_counter() - t0
                how = "in-process INSERTs into the hub's table (no batch endpoint on this hub)"
            result["seeded"] = {"how": how, "instances": len(everything), "seconds": round(seeded, 1)}
            live = result.get("rss_mb_registered_live")
            print(f"[seed] {len(everything):,} in {seeded:.1f}s via {how}; RSS then {live} MB", flush=True)

            # ---- 100,000 instances, after a restart, measured in turns with the reference
            big, ready = start_hub(url, "big")
            try:
                rss_ready, cpu_ready = big.rss_mb(), cpu_seconds(big)
                count = registered_count(big)
                result["big"] = {"ready_s": round(ready, 3), "ready_cpu_s": round(cpu_ready, 2)}
                result["big"] |= {"instances": count, "rss_mb_at_ready": round(rss_ready, 1)}
                print(f"[{count:,}] restart -> ready in {ready:.2f}s, RSS {rss_ready:.0f} MB", flush=True)
                wrk = discovery({"small": (small, small_services), "big": (big, big_services)}, args)
                result["small"]["wrk"], result["big"]["wrk"] = wrk["small"], wrk["big"]
                result["small"]["rss_mb"] = round(small.rss_mb(), 1)
                result["big"]["rss_mb"] = round(big.rss_mb(), 1)
            finally:
                big.stop()
        finally:
            small.stop()
        ids = asyncio.run(_instance_ids(url, args.hb_instances))
        if not args.skip_replicas:
            result["replicas"] = replicas(url, ids, args)
    report(result, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"written to {args.json}")


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    small, big, n = r["small"], r["big"], r["instances"]
    print()
    print(f"seeded: {r['seeded']['how']}")
    print(f"{'figure':38} {r['reference_instances']:>10,} {r['instances']:>10,}   ratio")
    for route in ROUTES:
        for key in ("rps", "p50_ms", "p99_ms"):
            a, b = small["wrk"][route][key], big["wrk"][route][key]
            print(f"{route + ' ' + key + f' (c={args.connections})':38} {a:>10} {b:>10}   {b / a:5.2f}x")
    for label, key in (
        ("ready after restart (s)", "ready_s"),
        ("RSS at ready (MB)", "rss_mb_at_ready"),
        ("CPU used until ready (s)", "ready_cpu_s"),
        ("RSS after the reads (MB)", "rss_mb"),
    ):
        a, b = small[key], big[key]
        print(f"{label:38} {a:>10} {b:>10}   {b / a:5.2f}x")
    verdicts = [
        (f"RSS with {n:,} < 600 MB", big["rss_mb"] < 600, f"{big['rss_mb']} MB"),
        (f"ready after restart with {n:,} < 5 s", big["ready_s"] < 5, f"{big['ready_s']} s"),
    ]
    for route in ROUTES:
        for key in ("p50_ms", "p99_ms"):
            ratio = big["wrk"][route][key] / small["wrk"][route][key]
            goal = f"{route} {key} at {n:,} within 10% of {r['reference_instances']:,}"
            verdicts.append((goal, ratio <= 1.10, f"{ratio:.2f}x"))
    rep = r.get("replicas")
    if rep:
        print(f"\nreplicas (cluster {rep['cluster']}), RSS A/B {rep['rss_mb']} MB")
        print(f"heartbeats: {rep['heartbeats']}")
        print(f"{'visibility A -> B':38} {'idle':>10} {'beating':>10}   ratio")
        keys = ("visible_p50_ms", "visible_p99_ms", "visible_max_ms", "ack_p50_ms", "after_ack_p50_ms")
        for key in (*keys, "after_ack_p99_ms"):
            a, b = rep["idle"][key], rep["heartbeating"][key]
            print(f"{key:38} {a:>10} {b:>10}   {b / a if a else float('nan'):5.2f}x")
        missed = (rep["idle"]["missed"], rep["heartbeating"]["missed"])
        print(f"missed (not visible within 10 s): {missed[0]} idle, {missed[1]} while heartbeating")
    print()
    for name, ok, figure in verdicts:
        print(f"  {'met ' if ok else 'MISS'}  {name}: {figure}")
    r["verdicts"] = [{"goal": n, "met": ok, "figure": f} for n, ok, f in verdicts]


if __name__ == "__main__":
    main()

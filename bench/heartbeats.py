"""Heartbeats over NATS against heartbeats over HTTP, on the real hub (PostgreSQL, auth on).

What it does:

1. creates a fresh PostgreSQL database and an API key (``registry:write``), spawns the hub
   (``python -m centralhub.cli serve``) on it with NATS (``NATS_URL``, default the local 4222),
   a cluster name of its own and ``CENTRAL_HUB_AUTH=required``, and registers 10,000 instances;
2. NATS: several publisher processes send heartbeats for those instances, each message built and
   signed by the SDK's own builder (:func:`centralhub.core.heartbeat_wire.build_heartbeat`), at
   an offered rate; the figure is what the hub APPLIED per second (its
   ``centralhub_heartbeats_total{transport="nats"}`` counter over a window), not what was sent;
3. HTTP: wrk (Lua script walking the 10,000 heartbeat URLs, ``Authorization: Bearer``, body
   ``{"load":0.5}``) at 64 connections against the hub, and against a bare Starlette POST route
   parsing the same body (``bench/_starlette_heartbeat_ref.py``), taking turns;
4. prints rates and the ratios NATS/HTTP and HTTP/Starlette, with met/MISS against the goals.

``python bench/heartbeats.py [--instances 10000] [--publishers 3] [--rate 90000] [--duration 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx  # noqa: E402
from _util import (  # noqa: E402
    ROOT,
    WRK_DONE,
    Server,
    free_port,
    python,
    run_wrk,
    spawn,
    temp_postgres_database,
    wait_ready,
)
from discovery import py_spy, summarize_profile  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret"
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
BODY = '{"load":0.5}'


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """PATH plus PYTHONPATH (so a worktree's own code runs) plus ``extra``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**env, **extra}


def create_key(database_url: str) -> str:
    created = subprocess.run(
        [python(), "-m", "centralhub.cli", "keys", "create", "bench-heartbeats", "--scope", "registry:write"],
        env=child_env({"DATABASE_URL": database_url}),
        capture_output=True,
        text=True,
        check=True,
        cwd=str(ROOT),
    )
    return created.stdout.strip().splitlines()[-1]


def start_hub(database_url: str, cluster: str, workdir: Path) -> Server:
    port = free_port()
    env = child_env(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": NATS_URL,
            "CENTRAL_HUB_CLUSTER": cluster,
            "CENTRAL_HUB_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "CENTRAL_HUB_SECRET": SECRET,
            "CENTRAL_HUB_AUTH": "required",
            "CENTRAL_HUB_RATE_LIMIT_PER_MINUTE": str(10**12),
            "CENTRAL_HUB_RATE_LIMIT_BURST": str(10**12),
        }
    )
    server = spawn(
        "hub",
        [python(), "-m", "centralhub.cli", "serve", "--port", str(port)],
        port=port,
        log_path=workdir / "hub.log",
        env=env,
    )
    wait_ready(server, "/health", timeout=60)
    return server


async def register(url: str, key: str, count: int) -> list[tuple[str, str]]:
    """``count`` instances over 100 services; ``[(service, instance id)]``."""
    out: list[tuple[str, str]] = []
    sem = asyncio.Semaphore(50)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:

        async def one(i: int) -> None:
            body = {"name": f"svc-{i % 100:03d}", "host": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"}
            body.update({"port": 8000, "ttl_seconds": 3600, "health_endpoint": None})
            async with sem:
                resp = await client.post("/api/v1/services/register", json=body)
            resp.raise_for_status()
            out.append((body["name"], resp.json()["instance_id"]))

        await asyncio.gather(*(one(i) for i in range(count)))
    return out


def nats_applied(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('centralhub_heartbeats_total{transport="nats"}'):
            return float(line.rsplit(" ", 1)[1])
    raise RuntimeError('the hub\'s /metrics has no centralhub_heartbeats_total{transport="nats"}')


# --------------------------------------------------------------------------- publisher process
async def publish(args: argparse.Namespace, targets: list[tuple[str, str]]) -> None:
    """One publisher: heartbeats for ``targets`` at ``rate`` per second for ``duration`` s."""
    import nats

    from centralhub.core.heartbeat_wire import SigningKey, build_heartbeat, heartbeat_subject

    key = SigningKey.of(args.key)
    nc = await nats.connect(NATS_URL, pending_size=64 * 1024 * 1024)
    subjects = {s: f"{args.cluster}.{heartbeat_subject('default', s)}" for s, _ in targets}
    sent = 0
    chunk = 200
    start = time.perf_counter()
    deadline = start + args.duration
    i = 0
    n = len(targets)
    while time.perf_counter() < deadline:
        now = time.time()
        for _ in range(chunk):
            service, instance_id = targets[i % n]
            i += 1
            data = build_heartbeat("default", service, instance_id, now=now, load=0.5, key=key)
            await nc.publish(subjects[service], data)
        sent += chunk
        ahead = sent / args.rate - (time.perf_counter() - start)
        if ahead > 0:
            await asyncio.sleep(ahead)
        else:
            await asyncio.sleep(0)
    await nc.flush()
    elapsed = time.perf_counter() - start
    await nc.close()
    print(json.dumps({"sent": sent, "seconds": elapsed}), flush=True)


def run_publishers(
    targets: list[tuple[str, str]],
    key: str,
    cluster: str,
    workdir: Path,
    *,
    count: int,
    rate: float,
    duration: float,
) -> list[subprocess.Popen[str]]:
    procs = []
    for p in range(count):
        part = workdir / f"targets-{p}.json"
        part.write_text(json.dumps(targets[p::count]))
        argv = [python(), __file__, "--publisher", "--targets", str(part), "--key", key, "--cluster", cluster]
        argv += ["--rate", str(rate / count), "--duration", str(duration)]
        procs.append(
            subprocess.Popen(argv, env=child_env({}), stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
        )
    return procs


def measure_nats(
    hub: Server,
    targets: list[tuple[str, str]],
    key: str,
    cluster: str,
    workdir: Path,
    args: argparse.Namespace,
    profile: Path | None = None,
) -> tuple[float, float]:
    """(applied/s in the measured window, sent/s by the publishers)."""
    warm = 1.5
    procs = run_publishers(
        targets,
        key,
        cluster,
        workdir,
        count=args.publishers,
        rate=args.rate,
        duration=args.duration + warm + 0.5,
    )
    try:
        time.sleep(warm)
        a0, t0 = nats_applied(hub.url), time.perf_counter()
        if profile is not None:
            with py_spy(hub.proc.pid, args.duration, profile):
                pass
        else:
            time.sleep(args.duration)
        a1, t1 = nats_applied(hub.url), time.perf_counter()
        sent = 0.0
        # the HTTP figure that follows must not share the hub with a backlog still draining
        last, still = a1, 0
        while still < 3:
            time.sleep(0.5)
            now = nats_applied(hub.url)
            still = still + 1 if now == last else 0
            last = now
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            doc = json.loads(out.strip().splitlines()[-1])
            sent += doc["sent"] / doc["seconds"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    return (a1 - a0) / (t1 - t0), sent


def print_top(raw: Path) -> None:
    top = summarize_profile(raw, top=15)
    print(f"  py-spy of the hub ({raw.relative_to(ROOT)}), self time:")
    for frame, share in top["self"]:
        print(f"    {share:5.1f}%  {frame}")


def wrk_script(path: Path, targets: list[tuple[str, str]], key: str) -> Path:
    table = ",\n".join(json.dumps(f"/api/v1/services/{s}/instances/{i}/heartbeat") for s, i in targets)
    path.write_text(
        f"""
local paths = {{
{table}
}}
local n = 0
local counter = 0
setup = function(thread)
  thread:set("start", counter * 7919)
  counter = counter + 1
end
init = function(args)
  n = start or 0
end
request = function()
  n = n + 1
  return wrk.format("POST", paths[(n % #paths) + 1],
    {{["Content-Type"]="application/json", ["Authorization"]="Bearer {key}"}}, {json.dumps(BODY)})
end
{WRK_DONE}
"""
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=10_000)
    ap.add_argument("--publishers", type=int, default=3)
    ap.add_argument("--rate", type=float, default=90_000.0, help="offered NATS heartbeats/s, all publishers")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument(
        "--http-only", action="store_true", help="HTTP and Starlette only (a hub without NATS heartbeats)"
    )
    ap.add_argument("--profile", action="store_true", help="py-spy the hub in the first round (needs py-spy)")
    ap.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--targets", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--cluster", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publisher:
        asyncio.run(publish(args, json.loads(Path(args.targets).read_text())))
        return
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared; re-run when high)")
    cluster = f"benchhb_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, temp_postgres_database() as database_url:
        work = Path(tmp)
        key = create_key(database_url)
        hub = start_hub(database_url, cluster, work)
        ref_port = free_port()
        ref = spawn(
            "starlette",
            [python(), str(ROOT / "bench" / "_starlette_heartbeat_ref.py"), str(ref_port)],
            port=ref_port,
            log_path=work / "starlette.log",
            env=child_env({}),
        )
        try:
            wait_ready(ref, "/health", timeout=30)
            t = time.perf_counter()
            targets = asyncio.run(register(hub.url, key, args.instances))
            print(f"registered {len(targets):,} instances in {time.perf_counter() - t:.1f}s")
            lua = wrk_script(work / "heartbeats.lua", targets, key)
            nats_rates: list[float] = []
            sent_rates: list[float] = []
            http: list[float] = []
            star: list[float] = []
            run_wrk(hub.url, lua, connections=args.connections, duration=1)  # warm-up
            run_wrk(ref.url, lua, connections=args.connections, duration=1)
            for r in range(args.rounds):
                prof = ROOT / ".bench" / "profile-heartbeats-nats.txt" if args.profile and r == 0 else None
                applied, sent = 0.0, 0.0
                if not args.http_only:
                    applied, sent = measure_nats(hub, targets, key, cluster, work, args, prof)
                if prof is not None and not args.http_only:
                    print_top(prof)
                nats_rates.append(applied)
                sent_rates.append(sent)
                if args.profile and r == 0:
                    prof = ROOT / ".bench" / "profile-heartbeats-http.txt"
                    with py_spy(hub.proc.pid, args.duration, prof):
                        h = run_wrk(hub.url, lua, connections=args.connections, duration=args.duration)
                    print_top(prof)
                else:
                    h = run_wrk(hub.url, lua, connections=args.connections, duration=args.duration)
                s = run_wrk(ref.url, lua, connections=args.connections, duration=args.duration)
                for name, res in (("hub", h), ("starlette", s)):
                    if res.non2xx or res.socket_errors:
                        raise SystemExit(f"{name}: {res.non2xx} non-2xx, {res.socket_errors} socket errors")
                http.append(h.rps)
                star.append(s.rps)
                print(
                    f"round {r + 1}: NATS applied {applied:9,.0f}/s (sent {sent:9,.0f}/s)   "
                    f"HTTP hub {h.rps:8,.0f} req/s p99 {h.p99_ms:6.2f} ms   "
                    f"Starlette {s.rps:8,.0f} req/s p99 {s.p99_ms:6.2f} ms"
                )
            rejected = [
                ln
                for ln in httpx.get(f"{hub.url}/metrics").text.splitlines()
                if "messages_rejected_total{" in ln
            ]
        finally:
            hub.stop()
            ref.stop()
    n, h, s = median(nats_rates), median(http), median(star)
    if args.http_only:
        print(f"\nHTTP {h:,.0f}/s, Starlette {s:,.0f}/s, HTTP/Starlette {h / s:.2f}x (goal >= 0.7x)")
        return
    offered = median(sent_rates)
    print(
        f"\nheartbeats, {args.instances:,} instances (PostgreSQL, auth on), median of {args.rounds}:\n"
        f"  NATS applied        {n:9,.0f}/s   (offered {offered:,.0f}/s by {args.publishers} publishers)\n"
        f"  HTTP @{args.connections:<4}         {h:9,.0f}/s\n"
        f"  Starlette POST @{args.connections:<3} {s:9,.0f}/s\n"
        f"  NATS/HTTP      {n / h:5.2f}x  (goal >= 5x)        {'met' if n / h >= 5 else 'MISS'}\n"
        f"  NATS applied   {n:9,.0f}/s (goal >= 50,000/s)  {'met' if n >= 50_000 else 'MISS'}\n"
        f"  HTTP/Starlette {h / s:5.2f}x  (goal >= 0.7x)       {'met' if h / s >= 0.7 else 'MISS'}"
    )
    if rejected:
        print("  refused messages: " + "; ".join(rejected))


if __name__ == "__main__":
    main()

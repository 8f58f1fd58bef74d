"""``serve --workers N`` against one worker: discovery reads/s of each, measured in the same run.

Both hubs run at once on one fresh PostgreSQL database and NATS (a cluster name of their own):
the one-worker hub and the N-worker hub take turns under the same wrk script (every service name
in turn, ``GET /api/v1/services/{name}``), so they share whatever else loads the machine. Each
turn also records the CPU the hub's processes and wrk used, in cores: on a machine whose cores
wrk shares with the hub, N workers can only use the cores wrk leaves them.

Modes: ``shared`` (nothing pinned) and, with ``--pin``, ``pinned`` (wrk on CPU 0 with
``taskset``, the hubs wherever the kernel puts them).

Run ``python bench/workers.py [--workers 2] [--quick] [--pin]``; figures are printed and written
to ``.bench/workers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import (
    ROOT,
    Server,
    lua_paths_script,
    require_tool,
    run_wrk,
    temp_postgres_database,
)
from _util import (  # noqa: E402 - bench/ is not a package
    start_hub as spawn_hub,
)
from discovery import register, registrations, service_name  # noqa: E402

LOG_DIR = ROOT / ".bench" / "logs" / f"workers-{time.strftime('%H%M%S')}-{os.getpid()}"
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_hub(database_url: str, workers: int, cluster: str) -> Server:
    extra = {"NATS_URL": NATS_URL, "CENTRAL_HUB_CLUSTER": cluster, "CENTRAL_HUB_WORKERS": str(workers)}
    return spawn_hub(
        database_url,
        name=f"hub-{workers}w",
        log_path=LOG_DIR / f"hub-{workers}w.log",
        extra_env=extra,
        timeout=90,
    )[0]


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its children (the workers of a ``--workers`` parent)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    return pids


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(server: Server, script: Path, args: argparse.Namespace, prefix: list[str]) -> dict[str, Any]:
    pids = _process_tree(server.proc.pid)
    hub0, wrk0, t0 = _cpu_seconds(pids), _children_cpu(), time.perf_counter()
    r = run_wrk(
        server.url,
        script,
        connections=args.connections,
        duration=args.duration,
        threads=args.threads,
        prefix=prefix,
    )
    wall = time.perf_counter() - t0
    hub_cores = (_cpu_seconds(pids) - hub0) / wall
    return r.as_dict() | {
        "hub_cores": round(hub_cores, 2),
        "wrk_cores": round((_children_cpu() - wrk0) / wall, 2),
        # what one core of the hub answers: compares the two hubs whatever CPU they were left
        "rps_per_hub_core": round(r.rps / hub_cores) if hub_cores > 0 else 0,
        "load_average": round(os.getloadavg()[0], 2),
    }


def wait_followed(server: Server, names: list[str], tries: int = 40) -> None:
    """Every worker of ``server`` (new connections land on any) knows the last service."""
    deadline = time.monotonic() + 30
    path = f"/api/v1/services/{names[-1]}"
    while time.monotonic() < deadline:
        if all(httpx.get(server.url + path, timeout=5).status_code == 200 for _ in range(tries)):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not follow the registrations within 30s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="workers of the hub compared with one")
    p.add_argument("--quick", action="store_true", help="2 s runs, one round")
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 5, --quick 2)")
    p.add_argument("--rounds", type=int, help="turns per hub and mode (default 3, --quick 1)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="wrk threads (one leaves more CPU to the hub)")
    p.add_argument("--services", type=int, default=300)
    p.add_argument("--pin", action="store_true", help="also run with wrk pinned to CPU 0 (taskset)")
    p.add_argument("--json", type=Path, default=ROOT / ".bench" / "workers.json")
    args = p.parse_args()
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    require_tool("wrk")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    modes: dict[str, list[str]] = {"shared": []}
    if args.pin:
        modes["pinned"] = [require_tool("taskset"), "-c", "0"]
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; wrk -t{args.threads} "
        f"-c{args.connections} {args.duration:g}s x {args.rounds} rounds per hub and mode",
        flush=True,
    )
    out: dict[str, Any] = {"workers": args.workers, "connections": args.connections, "modes": {}}
    cluster = f"benchwk{uuid.uuid4().hex[:8]}"
    with temp_postgres_database() as url:
        hubs = {"1 worker": start_hub(url, 1, cluster)}
        try:
            hubs[f"{args.workers} workers"] = start_hub(url, args.workers, cluster)
            one = hubs["1 worker"]
            names = [service_name(i) for i in range(args.services)]
            _, took = register(one.url, registrations(args.services, 0, 3))
            print(f"registered {args.services * 3} instances through the 1-worker hub in {took:.1f}s")
            for server in hubs.values():
                wait_followed(server, names)
            script = LOG_DIR / "service.lua"
            script.write_text(lua_paths_script([f"/api/v1/services/{n}" for n in names]))
            for server in hubs.values():  # warm-up
                run_wrk(server.url, script, connections=args.connections, duration=1, threads=args.threads)
            for mode, prefix in modes.items():
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in hubs}
                for _ in range(args.rounds):
                    for name, server in hubs.items():
                        r = measure(server, script, args, prefix)
                        runs[name].append(r)
                        print(
                            f"  {mode:7} {name:10} {r['rps']:>9,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                            f"p99 {r['p99_ms']:7.2f} ms  hub {r['hub_cores']:.2f} cores  "
                            f"wrk {r['wrk_cores']:.2f} cores  {r['rps_per_hub_core']:>7,} req/s/core  "
                            f"load {r['load_average']:.1f}  errors {r['socket_errors']} "
                            f"non-2xx {r['non2xx']}",
                            flush=True,
                        )
                median = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
                cores = {name: statistics.median(r["hub_cores"] for r in rs) for name, rs in runs.items()}
                ratio = median[f"{args.workers} workers"] / median["1 worker"]
                out["modes"][mode] = {
                    "runs": runs,
                    "median_rps": median,
                    "median_hub_cores": cores,
                    "ratio": round(ratio, 3),
                }
                print(
                    f"[{mode}] median {median['1 worker']:,.0f} req/s (1 worker) vs "
                    f"{median[f'{args.workers} workers']:,.0f} req/s ({args.workers} workers): "
                    f"{ratio:.2f}x  (goal >= 1.6x: {'met' if ratio >= 1.6 else 'MISS'}); hub cores "
                    f"{cores['1 worker']:.2f} vs {cores[f'{args.workers} workers']:.2f}",
                    flush=True,
                )
        finally:
            for server in hubs.values():
                server.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()

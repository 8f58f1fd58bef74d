"""Garbage-collector pauses of the hub as ``serve`` sets it up, beside Python's default thresholds.

Two hub processes, each on a fresh PostgreSQL database: one as ``centralhub serve`` runs it, one
with Python's default collection thresholds (700, 10, 10) put back once it has started. Each
gets 1,000 services x 3 instances registered over HTTP, then wrk reads
``GET /api/v1/services/{name}`` at 64 connections with no warm-up (right after the registrations,
when collections of everything registered land on the reads), the two hubs taking turns, with
a bare Starlette app serving the same body as the reference. Every collection after start-up is
timed inside each hub (``bench/_gc_probe.py``); a pause's wall time includes any time the
process waited for a core, so read it beside the other hub's figures from the same run.

``python bench/gc_pauses.py [--rounds 3] [--duration 3]``; written to ``.bench/gc_pauses.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import (
    ROOT,
    Server,
    free_port,
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
from discovery import register, registrations, service_name  # noqa: E402

HERE = Path(__file__).resolve().parent
LOG_DIR = ROOT / ".bench" / "logs" / f"gc-pauses-{time.strftime('%H%M%S')}-{os.getpid()}"
VARIANTS = {"hub thresholds": None, "python defaults": "700,10,10"}


def start_probed_hub(database_url: str, label: str, thresholds: str | None) -> tuple[Server, Path]:
    report = LOG_DIR / f"gc-{label.replace(' ', '-')}.json"
    server, _ = spawn_hub(
        database_url,
        name=label,
        log_path=LOG_DIR / f"{label.replace(' ', '-')}.log",
        extra_env={"GC_PROBE_THRESHOLDS": thresholds} if thresholds else None,
        argv=(str(HERE / "_gc_probe.py"), str(report)),
    )
    return server, report


def summarize(report: Path) -> dict[str, Any]:
    doc = json.loads(report.read_text())
    out: dict[str, Any] = {"thresholds": doc["thresholds"]}
    for gen, ms in doc["pauses_ms"].items():
        out[f"gen{gen}"] = {
            "count": len(ms),
            "max_ms": round(max(ms, default=0.0), 2),
            "total_ms": round(sum(ms), 1),
        }
    out["total_ms"] = round(sum(sum(ms) for ms in doc["pauses_ms"].values()), 1)
    out["max_ms"] = round(max((max(ms, default=0.0) for ms in doc["pauses_ms"].values()), default=0.0), 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--json", type=Path, default=ROOT / ".bench" / "gc_pauses.json")
    args = p.parse_args()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    names = [service_name(i) for i in range(args.services)]
    script = LOG_DIR / "service.lua"
    script.write_text(lua_paths_script([f"/api/v1/services/{n}" for n in names]))
    servers: dict[str, Server] = {}
    reports: dict[str, Path] = {}
    out: dict[str, Any] = {"variants": {}}
    with temp_postgres_database() as url_a, temp_postgres_database() as url_b:
        try:
            for (label, thresholds), url in zip(VARIANTS.items(), (url_a, url_b), strict=True):
                servers[label], reports[label] = start_probed_hub(url, label, thresholds)
                _, took = register(servers[label].url, registrations(args.services, 0, 3))
                print(f"[{label}] registered {args.services * 3} instances in {took:.1f}s", flush=True)
            body = httpx.get(f"{servers['hub thresholds'].url}/api/v1/services/{names[0]}").content
            (LOG_DIR / "body.json").write_bytes(body)
            ref_port = free_port()
            servers["starlette"] = spawn(
                "starlette",
                [python(), str(HERE / "_starlette_ref.py"), str(ref_port)] + [str(LOG_DIR / "body.json")] * 2,
                port=ref_port,
                log_path=LOG_DIR / "starlette.log",
                env=dict(os.environ),
            )
            wait_ready(servers["starlette"], "/health", timeout=30)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    r = run_wrk(server.url, script, connections=64, duration=args.duration)
                    runs[name].append(r.as_dict())
                    print(
                        f"  {name:16} {r.rps:>9,.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms  "
                        f"max {r.max_ms:7.1f} ms",
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
    ref_p99 = statistics.median(r["p99_ms"] for r in runs["starlette"])
    for label in VARIANTS:
        gc_figures = summarize(reports[label])
        p99 = statistics.median(r["p99_ms"] for r in runs[label])
        out["variants"][label] = {"runs": runs[label], "median_p99_ms": p99, "gc": gc_figures}
        gens = "  ".join(
            f"gen{g} {gc_figures[f'gen{g}']['count']}x max {gc_figures[f'gen{g}']['max_ms']:.1f} ms"
            for g in range(3)
        )
        print(
            f"[{label}] thresholds {tuple(gc_figures['thresholds'])}: "
            f"GC {gc_figures['total_ms']:.0f} ms in all, "
            f"longest {gc_figures['max_ms']:.1f} ms ({gens}); median p99 {p99:.2f} ms = "
            f"{p99 / ref_p99:.2f}x Starlette's {ref_p99:.2f} ms",
            flush=True,
        )
    out["starlette"] = {"runs": runs["starlette"], "median_p99_ms": ref_p99}
    hub, default = (out["variants"][k]["gc"] for k in VARIANTS)
    time_ratio = hub["total_ms"] / max(default["total_ms"], 0.001)
    pause_ratio = hub["max_ms"] / max(default["max_ms"], 0.001)
    print(f"GC time, hub thresholds / python defaults: {time_ratio:.2f}x; longest pause {pause_ratio:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()

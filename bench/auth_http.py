"""What authentication costs a discovery read over HTTP: the same data served by a hub with
auth off and one with auth on, measured by wrk in one run, interleaved.

Both hubs serve one SQLite file (registered once, loaded by both at start-up). The auth-on hub
gets ``Authorization: Bearer <registry:read key>`` on every request, so each read runs the
credential lookup, the scope table and the tenant binding. Rounds alternate off/on so drift on
a shared machine hits both alike; the figure is the on/off ratio of req/s and of p99.

``python bench/auth_http.py [--duration 4] [--rounds 2] [--connections 64]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx  # noqa: E402
from _util import WRK_DONE, free_port, python, run_wrk, spawn, wait_ready  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret"
SERVICES = 100


def start(db: Path, workdir: Path, label: str, auth: bool) -> object:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{db}",
        "CENTRAL_HUB_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "CENTRAL_HUB_SECRET": SECRET,
        "CENTRAL_HUB_AUTH": "required" if auth else "off",
        # one load generator, one address: the limiter runs (its cost is in both) but never throttles
        "CENTRAL_HUB_RATE_LIMIT_PER_MINUTE": str(10**12),
        "CENTRAL_HUB_RATE_LIMIT_BURST": str(10**12),
    }
    server = spawn(
        f"hub-{label}",
        [python(), "-m", "centralhub.cli", "serve", "--port", str(port)],
        port=port,
        log_path=workdir / f"hub-{label}.log",
        env=env,
    )
    wait_ready(server, "/health", timeout=60)
    return server


def script(path: Path, key: str | None) -> Path:
    header = f'["Authorization"]="Bearer {key}"' if key else ""
    paths = ",".join(f'"/api/v1/services/svc-{i:03d}"' for i in range(SERVICES))
    path.write_text(
        f"""
local paths = {{{paths}}}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], {{{header}}}, nil)
end
{WRK_DONE}
"""
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "hub.db"
        created = subprocess.run(
            [python(), "-m", "centralhub.cli", "keys", "create", "bench-reader", "--scope", "registry:read"],
            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{db}"},
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip().splitlines()[-1]
        off = start(db, work, "off", auth=False)
        try:
            with httpx.Client(base_url=off.url, timeout=10) as client:  # type: ignore[attr-defined]
                for i in range(SERVICES):
                    for j in range(3):
                        body = {
                            "name": f"svc-{i:03d}",
                            "host": f"10.0.{i}.{j}",
                            "port": 8000,
                            "ttl_seconds": 3600,
                        }
                        client.post("/api/v1/services/register", json=body).raise_for_status()
            on = start(db, work, "on", auth=True)
            try:
                plain, keyed = script(work / "off.lua", None), script(work / "on.lua", key)
                figures: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
                for _name, server, lua in (("off", off, plain), ("on", on, keyed)):  # warm-up
                    run_wrk(server.url, lua, connections=args.connections, duration=1)  # type: ignore[attr-defined]
                for _ in range(args.rounds):
                    for name, server, lua in (("off", off, plain), ("on", on, keyed)):
                        r = run_wrk(server.url, lua, connections=args.connections, duration=args.duration)  # type: ignore[attr-defined]
                        if r.non2xx or r.socket_errors:
                            raise SystemExit(f"{name}: {r.non2xx} non-2xx, {r.socket_errors} socket errors")
                        figures[name].append((r.rps, r.p99_ms))
                        print(f"  auth {name:3}  {r.rps:9,.0f} req/s  p99 {r.p99_ms:7.2f} ms")
            finally:
                on.stop()  # type: ignore[attr-defined]
        finally:
            off.stop()  # type: ignore[attr-defined]
    rps = {k: median(v[0] for v in figures[k]) for k in figures}
    p99 = {k: median(v[1] for v in figures[k]) for k in figures}
    print(
        f"GET /api/v1/services/{{name}} @{args.connections}: auth off {rps['off']:,.0f} req/s, "
        f"on {rps['on']:,.0f} req/s (on/off {rps['on'] / rps['off']:.2f}); "
        f"p99 off {p99['off']:.2f} ms, on {p99['on']:.2f} ms (on/off {p99['on'] / p99['off']:.2f})"
    )


if __name__ == "__main__":
    main()

"""Helpers shared by the benchmarks: processes on free ports, wrk runs, nginx, temp PostgreSQL.

Everything here starts real processes and cleans them up; every wait has a deadline so a
stuck server fails the benchmark with its log instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def python() -> str:
    """The project's virtualenv interpreter (falls back to the running one)."""
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_tool(name: str) -> str:
    """Path of an executable, or exit with the install hint (Debian packages)."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        sys.exit(f"{name} not found: apt-get update && apt-get install -y wrk nginx")
    return path


# --------------------------------------------------------------------------- processes
@dataclass
class Server:
    """A started server process on ``127.0.0.1:port`` with its log file."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss_mb(self) -> float:
        """Resident set size from ``/proc/PID/status`` (VmRSS), in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for pid {self.proc.pid}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def spawn(name: str, argv: Sequence[str], *, port: int, log_path: Path, env: dict[str, str]) -> Server:
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(list(argv), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    finally:
        log.close()
    return Server(name=name, port=port, proc=proc, log_path=log_path)


def wait_ready(server: Server, path: str, *, timeout: float = 30.0, started: float | None = None) -> float:
    """Poll ``path`` until it answers 200; returns seconds since ``started`` (default: now)."""
    t0 = time.perf_counter() if started is None else started
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
            try:
                if client.get(server.url + path).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{server.name} not ready in {timeout}s:\n{server.log_tail()}")


# --------------------------------------------------------------------------- the hub under test
def hub_env(database_url: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a hub under test: this process's (``PYTHONPATH`` included, so a
    worktree's own code runs) without its database, NATS or cache settings, plus ``extra``.

    Every load generator calls from one address: the rate limiter runs on each request (its
    cost is measured) but never throttles. An installed hub runs from compiled bytecode, so
    ``PYTHONDONTWRITEBYTECODE`` is dropped: otherwise every spawn would compile every module
    again and a ready time would measure the compiler."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "NATS_URL", "CACHE_URL"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "CENTRAL_HUB_PORT": str(port),
            "CENTRAL_HUB_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "CENTRAL_HUB_RATE_LIMIT_PER_MINUTE": str(10**12),
            "CENTRAL_HUB_RATE_LIMIT_BURST": str(10**12),
            **(extra or {}),
        }
    )
    return env


def start_hub(
    database_url: str,
    *,
    name: str,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    argv: Sequence[str] = ("-m", "centralhub.cli"),
    timeout: float = 60.0,
) -> tuple[Server, float]:
    """Spawn ``centralhub serve`` on a free port (``argv`` runs something else in its place,
    e.g. a wrapper that then runs the hub); returns it once ``/health`` answers 200, with the
    seconds from spawn to that answer. A hub that does not get ready is stopped."""
    port = free_port()
    started = time.perf_counter()
    server = spawn(
        name,
        [python(), *argv, "serve", "--port", str(port)],
        port=port,
        log_path=log_path,
        env=hub_env(database_url, port, extra_env),
    )
    try:
        ready = wait_ready(server, "/health", timeout=timeout, started=started)
    except BaseException:
        server.stop()
        raise
    return server, ready


# --------------------------------------------------------------------------- wrk
# A ``done`` hook that prints the figures as one JSON line, so nothing depends on wrk's
# human-readable units. Latency percentiles are in microseconds.
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"max_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, e.connect, e.read, e.write,
    e.timeout, e.status))
end
"""


def lua_paths_script(paths: Sequence[str], *, method: str = "GET", body: str | None = None) -> str:
    """A wrk script that walks ``paths`` round-robin (each thread from its own offset)."""
    table = ",\n".join(json.dumps(p) for p in paths)
    headers = '{["Content-Type"]="application/json"}' if body is not None else "{}"
    body_lua = json.dumps(body) if body is not None else "nil"
    return f"""
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
  return wrk.format("{method}", paths[(n % #paths) + 1], {headers}, {body_lua})
end
{WRK_DONE}
"""


def lua_bodies_script(path: str, bodies: Sequence[str]) -> str:
    """A wrk script that POSTs ``bodies`` to ``path`` round-robin."""
    table = ",\n".join(json.dumps(b) for b in bodies)
    return f"""
local bodies = {{
{table}
}}
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "{path}", {{["Content-Type"]="application/json"}}, bodies[(n % #bodies) + 1])
end
{WRK_DONE}
"""


@dataclass
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and every kind of error."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    non2xx: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    timeout_s: float = 5.0,
    prefix: Sequence[str] = (),
) -> WrkResult:
    """Run wrk against ``url`` with ``script``; raises with wrk's output if it fails.

    ``prefix`` goes before wrk's command line (``taskset -c 0`` to pin it)."""
    threads = max(1, min(threads, connections))
    argv = [
        *prefix,
        require_tool("wrk"),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout_s + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    d = json.loads(line.removeprefix("WRKJSON "))
    seconds = d["duration_us"] / 1e6
    socket_errors = d["connect"] + d["read"] + d["write"] + d["timeout"]
    return WrkResult(
        requests=d["requests"],
        seconds=round(seconds, 3),
        rps=round(d["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=d["p50_us"] / 1000,
        p90_ms=d["p90_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        max_ms=d["max_us"] / 1000,
        socket_errors=socket_errors,
        connect_errors=d["connect"],
        read_errors=d["read"],
        write_errors=d["write"],
        timeouts=d["timeout"],
        non2xx=d["non2xx"],
    )


# --------------------------------------------------------------------------- nginx
NGINX_CONF = """
worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/tmp;
  proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp;
  uwsgi_temp_path {prefix}/tmp;
  scgi_temp_path {prefix}/tmp;
  keepalive_requests 1000000;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    root {prefix}/www;
    location ~ /endpoint$ {{ rewrite ^ /endpoint.json break; }}
    location / {{ rewrite ^ /service.json break; }}
  }}
}}
"""


def start_nginx(workdir: Path, *, service_body: bytes, endpoint_body: bytes) -> Server:
    """nginx in the foreground with a temp prefix, serving the two bodies as static files.

    ``/api/v1/services/{name}`` gets ``service_body`` and ``…/endpoint`` gets ``endpoint_body``,
    so the same wrk script drives nginx, the Starlette reference and the hub.
    """
    prefix = workdir / "nginx"
    (prefix / "www").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / "www" / "service.json").write_bytes(service_body)
    (prefix / "www" / "endpoint.json").write_bytes(endpoint_body)
    # workers run as ``nobody`` when started by root: they must be able to read the files
    for p in (
        workdir,
        prefix,
        prefix / "www",
        prefix / "www" / "service.json",
        prefix / "www" / "endpoint.json",
    ):
        p.chmod(0o755 if p.is_dir() else 0o644)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port))
    server = spawn(
        "nginx",
        [require_tool("nginx"), "-p", str(prefix), "-c", str(conf)],
        port=port,
        log_path=workdir / "nginx.log",
        env=dict(os.environ),
    )
    wait_ready(server, "/api/v1/services/x", timeout=10)
    return server


# --------------------------------------------------------------------------- PostgreSQL
@contextmanager
def temp_postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards; yields its URL."""
    import asyncpg

    name = f"centralhub_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

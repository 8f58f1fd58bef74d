"""Helpers shared by the ops tests: external tools and a tiny scrape target."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port


def require_tool(path: str, debian_package: str) -> str:
    """The tool's path; fails under CI=true, skips locally when it is not installed."""
    found = path if os.path.exists(path) else shutil.which(os.path.basename(path))
    if found:
        return found
    message = f"{path} is missing: apt-get install -y {debian_package}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def metrics_target(body: bytes = b"ops_probe_up 1\n") -> Iterator[int]:
    """A small HTTP server on a free port answering ``GET /metrics``; yields the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def running_prometheus(config: str, workdir: Path) -> Iterator[tuple[str, Path]]:
    """The real Prometheus with ``config`` (YAML text); yields its URL and its log file."""
    binary = require_tool("/usr/bin/prometheus", "prometheus")
    config_file = workdir / "prometheus.yml"
    config_file.write_text(config)
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def poll(fn: Any, timeout: float, what: str, log: Path) -> Any:
    """``fn()``'s first truthy answer within ``timeout`` seconds, else fail showing ``log``'s end."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (httpx.HTTPError, ValueError, KeyError) as exc:  # not ready yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout}s (last: {last!r}); log:\n{log.read_text()[-3000:]}")


def active_targets(prometheus_url: str) -> list[dict[str, Any]]:
    """Prometheus' active targets (``/api/v1/targets``)."""
    doc = httpx.get(f"{prometheus_url}/api/v1/targets", timeout=3).json()
    return doc["data"]["activeTargets"]  # type: ignore[no-any-return]

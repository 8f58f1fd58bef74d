"""Helpers shared by the ops tests: external tools and a tiny scrape target."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


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

"""What a person reads in a hub's output: a ready line that is true, one line for a taken port,
and no line per request from the HTTP library the health checker uses."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx

from tests.ops._util import metrics_target


def test_a_taken_port_is_one_line_and_no_ready_line(hub_process_factory: Any) -> None:
    hub = hub_process_factory(start=False)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", hub.port))
        holder.listen()
        done = subprocess.run(
            [sys.executable, "-m", "centralhub.cli", "serve", "--port", str(hub.port)],
            env=hub.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    out = (done.stdout + done.stderr).strip()
    assert out.splitlines() == [
        f"error: port {hub.port} on 127.0.0.1 is already in use (another hub or program holds it); "
        "pick another with --port or CENTRAL_HUB_PORT"
    ], out
    assert "hub ready" not in out and "Traceback" not in out


def test_the_ready_line_comes_once_the_port_accepts(hub_process_factory: Any) -> None:
    hub = hub_process_factory(start=False)
    assert hub.log_path is not None
    log = hub.log_path.open("ab")
    hub.proc = subprocess.Popen(
        [sys.executable, "-m", "centralhub.cli", "serve", "--port", str(hub.port)],
        env=hub.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "central hub ready on" not in hub.log_path.read_text():
        assert hub.proc.poll() is None, hub.log_path.read_text()
        assert time.monotonic() < deadline, hub.log_path.read_text()
        time.sleep(0.02)
    # the line is only written after the socket listens: a connection made right away succeeds
    socket.create_connection(("127.0.0.1", hub.port), timeout=5).close()
    assert httpx.get(f"{hub.url}/health", timeout=10).status_code == 200
    assert hub.log_path.read_text().count("central hub ready on") == 1


def test_health_probes_write_no_line_per_request_at_info(hub_process_factory: Any) -> None:
    hub = hub_process_factory()  # LOG_LEVEL=INFO
    name = f"quiet-{uuid.uuid4().hex[:6]}"
    with metrics_target() as port:
        resp = httpx.post(
            f"{hub.url}/api/v1/services/register",
            json={
                "name": name,
                "host": "127.0.0.1",
                "port": port,
                "health_endpoint": "/metrics",
                "check": {"type": "http", "interval_seconds": 1, "timeout_seconds": 1},
            },
            timeout=10,
        )
        assert resp.status_code == 201, resp.text
        instance_id = resp.json()["instance_id"]
        time.sleep(4)  # about four probes, one a second
        got = httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=10).json()
        assert [i["status"] for i in got["instances"] if i["instance_id"] == instance_id] == ["passing"]
    assert hub.log_path is not None
    text = hub.log_path.read_text()
    assert "central hub ready on" in text
    assert "HTTP Request:" not in text, text[-2000:]

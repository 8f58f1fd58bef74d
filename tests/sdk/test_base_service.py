"""BaseService as a real process: registers, serves /health, hot-reloads config, deregisters on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.timeout(60)


def _until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def test_base_service_process_lifecycle(hub_process_factory: Any, tmp_path: Path) -> None:
    hub = hub_process_factory()
    name = f"probe-{uuid.uuid4().hex[:8]}"
    port = free_port()
    lifecycle = tmp_path / "lifecycle.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVICE_", "NATS_URL", "CENTRAL_HUB"))}
    env.update(
        CENTRAL_HUB_URL=hub.url, SERVICE_PORT=str(port), PROBE_NAME=name, LIFECYCLE_FILE=str(lifecycle)
    )
    log = tmp_path / "probe.log"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("service_app.py"))],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def instances() -> list[dict[str, Any]]:
        resp = httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=5)
        return [] if resp.status_code == 404 else list(resp.json()["instances"])

    try:
        [inst] = _until(instances, "the service to register")
        assert inst["url"] == url and inst["version"] == "2.0.0" and inst["health_endpoint"] == "/health"
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert health["status"] == "healthy" and health["service"] == name
        assert health["checks"] == {"queue_size": 3, "worker_count": 2}
        assert health["hub"]["instance_id"] == inst["instance_id"]
        # defaults until the hub has a configuration, then the hub's merged over them
        assert httpx.get(f"{url}/greet", timeout=5).json() == {"greeting": "hello", "rps": 10}
        r = httpx.post(f"{hub.url}/api/v1/config/{name}", json={"greeting": "hi"}, timeout=5)
        assert r.status_code in (200, 201), r.text
        _until(lambda: httpx.get(f"{url}/greet", timeout=5).json()["greeting"] == "hi", "the config reload")
        assert httpx.get(f"{url}/greet", timeout=5).json()["rps"] == 10

        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-2000:]
        assert instances() == []
        events = lifecycle.read_text().splitlines()
        # hooks in order: startup before registration, shutdown after deregistration
        assert events[0] == "startup registered=False"
        assert "config greeting=hi registered=True" in events
        assert events[-1] == "shutdown registered=False"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)

"""BaseService as a real process: registers, serves /health, hot-reloads config, deregisters on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from centralhub.core.time import parse_rfc3339
from tests.conftest import free_port
from tests.support import wait_until_sync

pytestmark = pytest.mark.timeout(60)


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
        [inst] = wait_until_sync(instances, what="the service to register", timeout=20)
        assert inst["url"] == url and inst["version"] == "2.0.0" and inst["health_endpoint"] == "/health"
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert health["status"] == "healthy" and health["service"] == name
        assert health["checks"] == {"queue_size": 3, "worker_count": 2}
        assert health["hub"]["instance_id"] == inst["instance_id"]
        # defaults until the hub has a configuration, then the hub's merged over them
        assert httpx.get(f"{url}/greet", timeout=5).json() == {"greeting": "hello", "rps": 10}
        r = httpx.post(f"{hub.url}/api/v1/config/{name}", json={"greeting": "hi"}, timeout=5)
        assert r.status_code == 200, r.text
        wait_until_sync(
            lambda: httpx.get(f"{url}/greet", timeout=5).json()["greeting"] == "hi", what="the config reload"
        )
        assert httpx.get(f"{url}/greet", timeout=5).json()["rps"] == 10
        # /metrics in Prometheus' format: requests by route template, the reload that just ran
        families = {
            f.name: f for f in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text)
        }
        greets = [
            s.value
            for s in families["http_requests"].samples
            if s.name == "http_requests_total"
            and s.labels == {"method": "GET", "route": "/greet", "status": "200"}
        ]
        assert greets and greets[0] >= 3
        reloads = {
            s.labels["outcome"]: s.value
            for s in families["config_reloads"].samples
            if s.name.endswith("_total")
        }
        assert reloads.get("applied", 0) >= 1 and "failed" not in reloads
        assert families["config_version"].samples[0].value >= 1
        # once the hub acknowledged a heartbeat, /health says when, in the hub's time format
        beat = wait_until_sync(
            lambda: httpx.get(f"{url}/health", timeout=5).json()["hub"]["last_heartbeat"],
            what="a heartbeat in /health",
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", beat), beat
        assert abs(parse_rfc3339(beat) - time.time()) < 30

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

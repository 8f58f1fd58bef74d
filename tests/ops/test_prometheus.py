"""A real Prometheus discovers a registered service through the hub and scrapes it."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.ops._util import metrics_target, require_tool

pytestmark = pytest.mark.slow


def _poll(fn: Any, timeout: float, what: str, log: Path) -> Any:
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
    pytest.fail(f"{what} within {timeout}s (last: {last!r}); prometheus log:\n{log.read_text()[-3000:]}")


def test_prometheus_discovers_and_scrapes_a_registered_service(
    hub_process_factory: Any, tmp_path: Path
) -> None:
    binary = require_tool("/usr/bin/prometheus", "prometheus")
    hub = hub_process_factory()
    name = f"probe-{uuid.uuid4().hex[:8]}"
    tenant = f"t{uuid.uuid4().hex[:6]}"
    with metrics_target() as target_port:
        resp = httpx.post(
            f"{hub.url}/api/v1/services/register",
            json={
                "name": name,
                "host": "127.0.0.1",
                "port": target_port,
                "version": "v7",
                "ttl_seconds": 600,
            },
            headers={"X-Tenant-ID": tenant},
            timeout=10,
        )
        assert resp.status_code == 201, resp.text

        prom_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: centralhub\n    http_sd_configs:\n"
            f"      - url: {hub.url}/api/v1/sd/prometheus?tenant={tenant}\n        refresh_interval: 1s\n"
        )
        log = tmp_path / "prometheus.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        prom = f"http://127.0.0.1:{prom_port}"
        try:

            def target_up() -> dict[str, Any] | None:
                doc = httpx.get(f"{prom}/api/v1/targets", timeout=3).json()
                for t in doc["data"]["activeTargets"]:
                    if t["labels"].get("service") == name and t["health"] == "up":
                        return t  # type: ignore[no-any-return]
                return None

            target = _poll(target_up, 60, "target not discovered and up", log)
            assert target["labels"]["tenant"] == tenant
            assert target["labels"]["version"] == "v7"
            assert target["labels"]["status"] == "passing"
            assert target["labels"]["instance"] == f"127.0.0.1:{target_port}"
            assert target["discoveredLabels"]["__meta_centralhub_service"] == name

            def scraped() -> list[Any]:
                q = httpx.get(
                    f"{prom}/api/v1/query", params={"query": f'ops_probe_up{{service="{name}"}}'}, timeout=3
                )
                return q.json()["data"]["result"]  # type: ignore[no-any-return]

            result = _poll(scraped, 30, "scraped sample not queryable", log)
            assert result[0]["value"][1] == "1"
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

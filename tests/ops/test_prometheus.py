"""A real Prometheus discovers registered services through the hub, relabels on what the hub
exposes, and scrapes them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.ops._util import active_targets, metrics_target, poll, running_prometheus

pytestmark = pytest.mark.slow


def _register(hub_url: str, tenant: str, **body: Any) -> dict[str, Any]:
    resp = httpx.post(
        f"{hub_url}/api/v1/services/register", json=body, headers={"X-Tenant-ID": tenant}, timeout=10
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _sd_config(url: str, relabel: str = "") -> str:
    return (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: centralhub\n    http_sd_configs:\n"
        f"      - url: {url}\n        refresh_interval: 1s\n" + relabel
    )


def test_prometheus_discovers_and_scrapes_a_registered_service(
    hub_process_factory: Any, tmp_path: Path
) -> None:
    hub = hub_process_factory()
    name = f"probe-{uuid.uuid4().hex[:8]}"
    tenant = f"t{uuid.uuid4().hex[:6]}"
    with metrics_target() as target_port:
        _register(
            hub.url, tenant, name=name, host="127.0.0.1", port=target_port, version="v7", ttl_seconds=600
        )
        config = _sd_config(f"{hub.url}/api/v1/sd/prometheus?tenant={tenant}")
        with running_prometheus(config, tmp_path) as (prom, log):

            def target_up() -> dict[str, Any] | None:
                for t in active_targets(prom):
                    if t["labels"].get("service") == name and t["health"] == "up":
                        return t
                return None

            target = poll(target_up, 60, "target not discovered and up", log)
            assert target["labels"]["tenant"] == tenant
            assert target["labels"]["version"] == "v7"
            assert "status" not in target["labels"]  # health never splits a target's series
            assert target["labels"]["instance"] == f"127.0.0.1:{target_port}"
            assert target["discoveredLabels"]["__meta_centralhub_service"] == name
            assert target["discoveredLabels"]["__meta_centralhub_status"] == "passing"

            def scraped() -> list[Any]:
                q = httpx.get(
                    f"{prom}/api/v1/query", params={"query": f'ops_probe_up{{service="{name}"}}'}, timeout=3
                )
                return q.json()["data"]["result"]  # type: ignore[no-any-return]

            result = poll(scraped, 30, "scraped sample not queryable", log)
            assert result[0]["value"][1] == "1"


def test_prometheus_relabels_on_metadata_and_tags(hub_process_factory: Any, tmp_path: Path) -> None:
    hub = hub_process_factory()
    name = f"relabel-{uuid.uuid4().hex[:8]}"
    tenant = f"t{uuid.uuid4().hex[:6]}"
    with metrics_target() as prod_port, metrics_target() as dev_port:
        prod = _register(
            hub.url,
            tenant,
            name=name,
            host="127.0.0.1",
            port=prod_port,
            metadata={"env": "prod", "team": "fx"},
            tags=["primary"],
            ttl_seconds=600,
        )
        _register(
            hub.url,
            tenant,
            name=name,
            host="127.0.0.1",
            port=dev_port,
            metadata={"env": "dev"},
            ttl_seconds=600,
        )
        relabel = (
            "    relabel_configs:\n"
            "      - source_labels: [__meta_centralhub_metadata_env]\n"
            "        regex: prod\n        action: keep\n"
            "      - source_labels: [__meta_centralhub_metadata_env]\n        target_label: env\n"
            "      - source_labels: [__meta_centralhub_metadata_team]\n        target_label: team\n"
            "      - source_labels: [__meta_centralhub_instance_id]\n        target_label: instance_id\n"
            "      - source_labels: [__meta_centralhub_tags]\n        regex: .*,primary,.*\n"
            "        target_label: role\n        replacement: primary\n"
        )
        config = _sd_config(f"{hub.url}/api/v1/sd/prometheus?tenant={tenant}", relabel)
        with running_prometheus(config, tmp_path) as (prom, log):

            def scraped() -> list[Any]:
                q = httpx.get(
                    f"{prom}/api/v1/query", params={"query": f'ops_probe_up{{service="{name}"}}'}, timeout=3
                )
                return q.json()["data"]["result"]  # type: ignore[no-any-return]

            result = poll(scraped, 60, "relabelled series not queryable", log)
            labels = result[0]["metric"]
            assert labels["env"] == "prod" and labels["team"] == "fx" and labels["role"] == "primary"
            assert labels["instance_id"] == prod["instance_id"]
            assert labels["instance"] == f"127.0.0.1:{prod_port}"
            # the dev instance was dropped by the keep rule: only one target at all
            mine = [t for t in active_targets(prom) if t["labels"].get("service") == name]
            assert [t["labels"]["instance"] for t in mine] == [f"127.0.0.1:{prod_port}"]


def test_a_base_service_is_an_up_target(hub_process_factory: Any, tmp_path: Path) -> None:
    hub = hub_process_factory()
    name = f"based-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVICE_", "NATS_URL", "CENTRAL_HUB"))}
    env.update(
        CENTRAL_HUB_URL=hub.url,
        SERVICE_PORT=str(port),
        PROBE_NAME=name,
        LIFECYCLE_FILE=str(tmp_path / "lifecycle.txt"),
    )
    app = Path(__file__).parent.parent / "sdk" / "service_app.py"
    with (tmp_path / "service.log").open("ab") as out:
        service = subprocess.Popen([sys.executable, str(app)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with running_prometheus(_sd_config(f"{hub.url}/api/v1/sd/prometheus?service={name}"), tmp_path) as (
            prom,
            log,
        ):

            def up() -> list[Any]:
                q = httpx.get(f"{prom}/api/v1/query", params={"query": f'up{{service="{name}"}}'}, timeout=3)
                return [r for r in q.json()["data"]["result"] if r["value"][1] == "1"]

            [result] = poll(up, 60, "the BaseService target up", log)
            assert result["metric"]["instance"] == f"127.0.0.1:{port}"

            def its_own_figures() -> list[Any]:
                q = httpx.get(
                    f"{prom}/api/v1/query",
                    params={"query": f'http_requests_total{{service="{name}",route="/metrics"}}'},
                    timeout=3,
                )
                return q.json()["data"]["result"]  # type: ignore[no-any-return]

            poll(its_own_figures, 30, "the service's request counter scraped", log)
    finally:
        service.terminate()
        service.wait(20)

"""Eureka's REST operations against a real hub process, and the real Prometheus discovering
services through ``eureka_sd_configs``."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops._util import active_targets, metrics_target, poll, running_prometheus

pytestmark = pytest.mark.timeout(120)

JSON = {"Accept": "application/json"}


def _instance_json(app: str, instance_id: str, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "instance": {
            "instanceId": instance_id,
            "hostName": "127.0.0.1",
            "app": app.upper(),
            "ipAddr": "127.0.0.1",
            "status": "UP",
            "port": {"$": port, "@enabled": "true"},
            "securePort": {"$": 443, "@enabled": "false"},
            "dataCenterInfo": {
                "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                "name": "MyOwn",
            },
            "leaseInfo": {"renewalIntervalInSecs": 10, "durationInSecs": 30},
            "metadata": {"zone": "eu-1"},
            **extra,
        }
    }


def _instance_xml(app: str, instance_id: str, port: int) -> bytes:
    return f"""<instance>
  <instanceId>{instance_id}</instanceId>
  <hostName>127.0.0.1</hostName>
  <app>{app.upper()}</app>
  <ipAddr>127.0.0.1</ipAddr>
  <status>UP</status>
  <port enabled="true">{port}</port>
  <securePort enabled="false">443</securePort>
  <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
    <name>MyOwn</name>
  </dataCenterInfo>
  <leaseInfo><durationInSecs>45</durationInSecs></leaseInfo>
  <metadata><zone>eu-2</zone><management.port>{port}</management.port></metadata>
  <healthCheckUrl>http://127.0.0.1:{port}/actuator/health</healthCheckUrl>
</instance>""".encode()


def test_register_read_renew_status_and_cancel(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    app = f"orders-{uuid.uuid4().hex[:6]}"
    base = f"{hub.url}/eureka"
    r = httpx.post(f"{base}/apps/{app.upper()}", json=_instance_json(app, f"{app}:1", 8081), timeout=10)
    assert r.status_code == 204, r.text
    r = httpx.post(
        f"{base}/v2/apps/{app.upper()}",
        content=_instance_xml(app, f"{app}:2", 8082),
        headers={"Content-Type": "application/xml"},
        timeout=10,
    )
    assert r.status_code == 204, r.text

    # one store: the hub's own API sees both, under the lower-case name
    native = httpx.get(f"{hub.url}/api/v1/services/{app}", timeout=10).json()
    by_port = {i["port"]: i for i in native["instances"]}
    assert set(by_port) == {8081, 8082}
    assert by_port[8082]["ttl_seconds"] == 45 and by_port[8082]["health_endpoint"] == "/actuator/health"
    assert by_port[8082]["metadata"]["zone"] == "eu-2"

    doc = httpx.get(f"{base}/apps", headers=JSON, timeout=10).json()["applications"]
    [mine] = [a for a in doc["application"] if a["name"] == app.upper()]
    assert sorted(i["instanceId"] for i in mine["instance"]) == [f"{app}:1", f"{app}:2"]
    first = next(i for i in mine["instance"] if i["instanceId"] == f"{app}:1")
    assert first["status"] == "UP" and first["port"] == {"$": 8081, "@enabled": "true"}
    assert first["metadata"] == {"zone": "eu-1"} and first["leaseInfo"]["durationInSecs"] == 30

    xml = httpx.get(f"{base}/apps", timeout=10)
    assert xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "applications"
    [app_node] = [a for a in root.findall("application") if a.findtext("name") == app.upper()]
    ports = sorted(int(i.findtext("port") or 0) for i in app_node.findall("instance"))
    assert ports == [8081, 8082]
    one = ET.fromstring(httpx.get(f"{base}/apps/{app.upper()}/{app}:2", timeout=10).content)
    assert one.tag == "instance" and one.findtext("metadata/zone") == "eu-2"
    assert (
        httpx.get(f"{base}/apps/{app}", headers=JSON, timeout=10).json()["application"]["name"] == app.upper()
    )

    assert httpx.put(f"{base}/apps/{app.upper()}/{app}:1", timeout=10).status_code == 200
    assert httpx.put(f"{base}/apps/{app.upper()}/nobody", timeout=10).status_code == 404  # register again
    out = httpx.put(
        f"{base}/apps/{app.upper()}/{app}:1/status", params={"value": "OUT_OF_SERVICE"}, timeout=10
    )
    assert out.status_code == 200
    native = httpx.get(f"{hub.url}/api/v1/services/{app}", timeout=10).json()
    assert {i["port"]: i["status"] for i in native["instances"]}[8081] == "draining"
    back = httpx.delete(f"{base}/apps/{app.upper()}/{app}:1/status", timeout=10)
    assert back.status_code == 200
    native = httpx.get(f"{hub.url}/api/v1/services/{app}", timeout=10).json()
    assert {i["port"]: i["status"] for i in native["instances"]}[8081] == "passing"

    assert httpx.delete(f"{base}/apps/{app.upper()}/{app}:1", timeout=10).status_code == 200
    assert httpx.delete(f"{base}/apps/{app.upper()}/{app}:2", timeout=10).status_code == 200
    assert httpx.get(f"{base}/apps/{app.upper()}", timeout=10).status_code == 404

    for body, ctype, message in [
        (b"<instance><hostName>h</hostName>", "application/xml", "not valid XML"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><instance/>', "application/xml", "DOCTYPE"),
        (b'{"instance": {"hostName": "h"}}', "application/json", "port"),
        (b'{"nope": 1}', "application/json", "instance"),
    ]:
        bad = httpx.post(f"{base}/apps/{app}", content=body, headers={"Content-Type": ctype}, timeout=10)
        assert bad.status_code == 400 and message in bad.text, (body, bad.text)


@pytest.mark.slow
def test_prometheus_eureka_sd_finds_registered_services(hub_process_factory: Any, tmp_path: Path) -> None:
    hub = hub_process_factory()
    app = f"quotes-{uuid.uuid4().hex[:6]}"
    with metrics_target() as port:
        r = httpx.post(
            f"{hub.url}/eureka/apps/{app.upper()}", json=_instance_json(app, f"{app}:1", port), timeout=10
        )
        assert r.status_code == 204, r.text
        config = (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: eureka\n    eureka_sd_configs:\n"
            f"      - server: {hub.url}/eureka\n        refresh_interval: 1s\n"
            "    relabel_configs:\n"
            "      - source_labels: [__meta_eureka_app_name]\n        target_label: app\n"
            "      - source_labels: [__meta_eureka_app_instance_metadata_zone]\n        target_label: zone\n"
        )
        with running_prometheus(config, tmp_path) as (prom, log):

            def up() -> dict[str, Any] | None:
                for t in active_targets(prom):
                    if t["labels"].get("app") == app.upper() and t["health"] == "up":
                        return t
                return None

            target = poll(up, 60, "the Eureka-registered service as an up target", log)
            # Prometheus names a Eureka target after its instance id and scrapes host:port
            assert target["labels"]["instance"] == f"{app}:1"
            assert target["discoveredLabels"]["__address__"] == f"127.0.0.1:{port}"
            assert target["labels"]["zone"] == "eu-1"
            assert target["discoveredLabels"]["__meta_eureka_app_instance_status"] == "UP"

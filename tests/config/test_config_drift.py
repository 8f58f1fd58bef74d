"""Who runs what: three BaseService processes of one service report the revision they applied;
the one that cannot apply it is reported failed, then drifted, in the view, /metrics and alerts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.support import wait_until_sync

pytestmark = pytest.mark.timeout(120)
APP = Path(__file__).resolve().parent.parent / "sdk" / "service_app.py"


def _drift_gauge(url: str, service: str) -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "centralhub_config_drift_instances":
            for sample in family.samples:
                if sample.labels.get("service") == service:
                    return sample.value
    return None


def test_each_instance_reports_what_it_applied_and_the_failing_one_drifts(
    hub_process_factory: Any, tmp_path: Path
) -> None:
    hub = hub_process_factory(CENTRAL_HUB_CONFIG_DRIFT_SECONDS="1")
    name = f"drift-{uuid.uuid4().hex[:6]}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SERVICE_", "NATS_URL", "CENTRAL_HUB"))}
    procs = []
    try:
        for k in range(3):
            env = {
                **base,
                "CENTRAL_HUB_URL": hub.url,
                "SERVICE_PORT": str(free_port()),
                "PROBE_NAME": name,
                "LIFECYCLE_FILE": str(tmp_path / f"life-{k}.txt"),
            }
            if k == 2:
                env["PROBE_REFUSE"] = "bonjour"
            with (tmp_path / f"svc-{k}.log").open("ab") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, str(APP)], env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        wait_until_sync(
            lambda: (
                len(httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=5).json().get("instances", []))
                == 3
            ),
            timeout=30,
            what="three instances registered",
        )
        # a plain registration that never reports: unknown, never drifted
        plain = httpx.post(
            f"{hub.url}/api/v1/services/register",
            json={"name": name, "host": "10.9.9.9", "port": 1},
            timeout=10,
        ).json()["instance_id"]
        assert (
            httpx.post(
                f"{hub.url}/api/v1/config/{name}", json={"greeting": "bonjour"}, timeout=10
            ).status_code
            == 200
        )

        def reported() -> dict[str, Any] | None:
            view = httpx.get(f"{hub.url}/api/v1/config/{name}/instances", timeout=10).json()
            outcomes = sorted(i["outcome"] for i in view["instances"])
            return view if outcomes == ["applied", "applied", "failed", "unknown"] else None

        view = wait_until_sync(reported, timeout=30, what="every SDK instance reported revision 1")
        assert view["current"]["revision"] == 1 and view["drift_seconds"] == 1
        by_outcome = {i["outcome"]: i for i in view["instances"]}
        failed = by_outcome["failed"]
        assert failed["applied_revision"] == 1 and "cannot greet with 'bonjour'" in failed["error"]
        assert by_outcome["unknown"]["instance_id"] == plain and not by_outcome["unknown"]["drifted"]
        assert all(i["applied_revision"] == 1 for i in view["instances"] if i["outcome"] == "applied")

        def drifted() -> dict[str, Any] | None:
            view = httpx.get(f"{hub.url}/api/v1/config/{name}/instances", timeout=10).json()
            return view if view["drifted"] == 1 else None

        view = wait_until_sync(
            drifted, timeout=30, what="the failing instance flagged drifted after drift_seconds"
        )
        assert [i["instance_id"] for i in view["instances"] if i["drifted"]] == [failed["instance_id"]]
        assert wait_until_sync(
            lambda: _drift_gauge(hub.url, name) == 1, timeout=30, what="the drift gauge in /metrics"
        )

        def alert() -> list[dict[str, Any]]:
            alerts = httpx.get(f"{hub.url}/api/v1/alerts", params={"target": name}, timeout=10).json()[
                "alerts"
            ]
            return [a for a in alerts if a["event"] == "drift"]

        def on_dashboard() -> list[str]:
            doc = httpx.get(f"{hub.url}/api/v1/dashboard/data", timeout=10).json()
            return [d["instance_id"] for d in doc["drift"] or [] if d["service"] == name]

        assert wait_until_sync(on_dashboard, timeout=30, what="the drifted instance on the dashboard") == [
            failed["instance_id"]
        ]
        [raised] = wait_until_sync(alert, timeout=30, what="a drift alert")
        assert (
            raised["instance_id"] == failed["instance_id"]
            and "failed to apply revision 1" in raised["message"]
        )

        # a value every instance takes: nobody drifted any more
        assert (
            httpx.post(f"{hub.url}/api/v1/config/{name}", json={"greeting": "hej"}, timeout=10).status_code
            == 200
        )

        def healed() -> bool:
            view = httpx.get(f"{hub.url}/api/v1/config/{name}/instances", timeout=10).json()
            runs = [i for i in view["instances"] if i["outcome"] != "unknown"]
            return (
                all(i["applied_revision"] == 2 and i["outcome"] == "applied" for i in runs)
                and not view["drifted"]
            )

        wait_until_sync(healed, timeout=30, what="every instance on revision 2")
        assert wait_until_sync(
            lambda: _drift_gauge(hub.url, name) == 0, timeout=30, what="the drift gauge back to 0"
        )

        # a revision that spells out a default changes no value an instance runs: each one still
        # reports it applied (nothing to hand to on_config_change, but not behind either)
        same = {"greeting": "hej", "limits": {"rps": 10}}
        assert httpx.post(f"{hub.url}/api/v1/config/{name}", json=same, timeout=10).json()["revision"] == 3

        def on_three() -> bool:
            view = httpx.get(f"{hub.url}/api/v1/config/{name}/instances", timeout=10).json()
            runs = [i for i in view["instances"] if i["outcome"] != "unknown"]
            return len(runs) == 3 and all(i["applied_revision"] == 3 for i in runs)

        wait_until_sync(on_three, timeout=30, what="every instance reports revision 3")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)


async def test_reports_are_checked(client: httpx.AsyncClient) -> None:
    made = await client.post("/api/v1/services/register", json={"name": "rep", "host": "h", "port": 1})
    instance_id = made.json()["instance_id"]
    path = f"/api/v1/config/rep/instances/{instance_id}/applied"
    stored = await client.post(path, json={"revision": 3, "ok": False, "error": "boom"})
    assert stored.status_code == 200 and stored.json() == {
        "instance_id": instance_id,
        "revision": 3,
        "ok": False,
    }
    view = (await client.get("/api/v1/config/rep/instances")).json()
    [row] = view["instances"]
    assert row["outcome"] == "failed" and row["error"] == "boom" and row["applied_revision"] == 3
    assert view["current"] is None and not row["drifted"]  # nothing stored: nothing to drift from
    unknown = await client.post("/api/v1/config/rep/instances/nope/applied", json={"revision": 1})
    assert unknown.status_code == 404
    bad = await client.post(path, json={"revision": -1, "extra": 1})
    assert bad.status_code == 422 and "revision" in bad.text
    assert (await client.get("/api/v1/config/ghost/instances")).status_code == 404

"""Alerts, silences, acknowledgements and circuit state across two real hub replicas.

Two hub processes share one fresh PostgreSQL database and NATS (their own cluster name). An
instance whose TTL runs out is seen expiring by both replicas' reapers: the alert is listed on
both and reaches the webhook once. A silence set on one replica mutes alerts raised on either;
an acknowledgement on one shows on the other; circuit state reported on one is the same on the
other, and a replica restarted (SIGTERM) or killed (SIGKILL) still shows the alerts (dashboard
included) and circuits.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import wait_until_sync

pytestmark = pytest.mark.timeout(120)


class WebhookInbox:
    """A real HTTP receiver on 127.0.0.1 that keeps every alert posted to it."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                inbox.alerts.append(json.loads(body)["alert"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, target: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["target"] == target]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def inbox() -> Iterator[WebhookInbox]:
    box = WebhookInbox()
    yield box
    box.close()


@pytest.fixture
def replicas(
    fresh_pg: str, nats_url: str, inbox: WebhookInbox, hub_process_factory: Any, tmp_path: Path
) -> tuple[Any, Any]:
    """Two hubs on one database and NATS, alerting to ``inbox``, with a fast reaper.

    The database comes first so it is dropped only after the processes are gone."""
    infra = tmp_path / "infrastructure.yaml"
    channel = {"type": "webhook", "url": inbox.url, "retries": 2, "backoff_seconds": 0.1}
    infra.write_text(json.dumps({"alerts": {"channels": [channel]}}))
    env = {
        "NATS_URL": nats_url,
        "CENTRAL_HUB_CLUSTER": f"alr{uuid.uuid4().hex[:10]}",
        "INFRASTRUCTURE_FILE": str(infra),
        "CENTRAL_HUB_REAPER_INTERVAL_SECONDS": "0.2",
        "CENTRAL_HUB_DEREGISTER_GRACE_SECONDS": "600",
    }
    a = hub_process_factory(database_url=fresh_pg, **env)
    b = hub_process_factory(database_url=fresh_pg, **env)
    return a, b


def _get(url: str, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{url}{path}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _post(url: str, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
    resp = httpx.post(f"{url}{path}", json=body, timeout=10)
    assert resp.status_code == status, resp.text
    return resp.json()


def _register(url: str, name: str, port: int, ttl: int = 30) -> str:
    body = {"name": name, "host": "127.0.0.1", "port": port, "ttl_seconds": ttl}
    return str(_post(url, "/api/v1/services/register", body, status=201)["instance_id"])


def _alerts(url: str, target: str) -> list[dict[str, Any]]:
    return list(_get(url, "/api/v1/alerts", target=target)["alerts"])


def test_silence_alert_ack_and_circuit_shared_and_durable(
    replicas: tuple[Any, Any], inbox: WebhookInbox
) -> None:
    a, b = replicas

    # a silence set on A is listed on B at once (read from the shared store)
    silence = _post(a.url, "/api/v1/alerts/silences", {"target": "muted-*", "duration_seconds": 600}, 201)
    assert [s["id"] for s in _get(b.url, "/api/v1/alerts/silences")["silences"]] == [silence["id"]]

    # both reapers see the TTL run out: one alert, listed on both, delivered once
    _register(a.url, "expiring", 9101, ttl=1)
    first = wait_until_sync(lambda: _alerts(a.url, "expiring"), timeout=15, what="alert on A")
    assert len(first) == 1 and first[0]["event"] == "down" and first[0]["silenced"] is False
    alert_id = first[0]["id"]
    assert [x["id"] for x in _alerts(b.url, "expiring")] == [alert_id]
    wait_until_sync(lambda: len(inbox.of("expiring")) >= 1, timeout=10, what="webhook delivery")
    wait_until_sync(lambda: _alerts(a.url, "expiring")[0]["deliveries"], timeout=10, what="delivery stored")
    assert [x["id"] for x in inbox.of("expiring")] == [alert_id]

    # an alert raised while A's silence is active is recorded silenced and never sent
    _register(b.url, "muted-svc", 9102, ttl=1)
    muted = wait_until_sync(lambda: _alerts(b.url, "muted-svc"), timeout=15, what="silenced alert")
    assert len(muted) == 1 and muted[0]["silenced"] is True
    assert [x["id"] for x in _alerts(a.url, "muted-svc")] == [muted[0]["id"]]

    # acknowledged on B, acknowledged on A
    acked = _post(b.url, f"/api/v1/alerts/{alert_id}/acknowledge", {"by": "oncall"})
    assert acked["acknowledged"] is True and acked["acknowledged_by"] == "oncall"
    on_a = _alerts(a.url, "expiring")[0]
    assert (on_a["acknowledged"], on_a["acknowledged_by"]) == (True, "oncall")
    assert on_a["acknowledged_at"] == acked["acknowledged_at"]

    # circuit reports on A: the same circuit on B
    _register(a.url, "flaky", 9103, ttl=600)
    for i in range(3):
        _post(a.url, "/api/v1/circuits/flaky/report", {"success": False, "error": f"timeout {i}"})
    for i in range(2):
        _post(b.url, "/api/v1/circuits/flaky/report", {"success": False, "error": f"refused {i}"})
    circuit_a = _get(a.url, "/api/v1/circuits/flaky")
    assert circuit_a["state"] == "OPEN" and circuit_a["failures_reported"] == 5
    assert circuit_a["last_error"] == "refused 1"
    circuit_b = _get(b.url, "/api/v1/circuits/flaky")
    for key in ("state", "opened_at", "changed_at", "failures_reported", "last_error", "reason"):
        assert circuit_b[key] == circuit_a[key], key

    # the new silences, acknowledgement, circuits and dashboard survive a restart of B
    assert b.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    b.start()
    recent = _get(b.url, "/api/v1/dashboard/data")["alerts"]
    by_id = {x["id"]: x for x in recent}
    assert alert_id in by_id and muted[0]["id"] in by_id
    assert by_id[alert_id]["acknowledged"] is True
    restarted = _get(b.url, "/api/v1/circuits/flaky")
    for key in ("state", "opened_at", "changed_at", "failures_reported", "last_error"):
        assert restarted[key] == circuit_a[key], key
    assert [s["id"] for s in _get(b.url, "/api/v1/alerts/silences")["silences"]] == [silence["id"]]
    # and a replica killed outright loses nothing either
    a.stop(signal.SIGKILL)
    a.start()
    assert [x["id"] for x in _alerts(a.url, "expiring")] == [alert_id]
    assert _alerts(a.url, "expiring")[0]["acknowledged"] is True
    killed = _get(a.url, "/api/v1/circuits/flaky")
    for key in ("state", "opened_at", "changed_at", "failures_reported", "last_error"):
        assert killed[key] == circuit_a[key], key
    # still exactly one delivery of the one alert
    assert [x["id"] for x in inbox.of("expiring")] == [alert_id]
    assert inbox.of("muted-svc") == []

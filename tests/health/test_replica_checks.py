"""Three real hub replicas on one PostgreSQL database and one NATS: each active health check runs
on exactly one live replica, moves when that replica dies or stops, and one status change raises
one alert however many replicas see it."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from centralhub import __version__
from tests.conftest import HubProcess
from tests.support import wait_until_sync

INTERVAL = 1.0
REPLICA_HEADER = "X-CentralHub-Replica"


class ProbeTarget:
    """A health endpoint on 127.0.0.1 that records when each probe came and from which replica."""

    def __init__(self) -> None:
        self.status = 200
        self.probes: list[tuple[float, str]] = []
        self.user_agents: set[str] = set()
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                with target._lock:
                    target.probes.append((time.monotonic(), self.headers.get(REPLICA_HEADER, "")))
                    target.user_agents.add(self.headers.get("User-Agent", ""))
                body = b'{"status":"ok"}'
                self.send_response(target.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def since(self, start: float) -> list[tuple[float, str]]:
        with self._lock:
            return [p for p in self.probes if p[0] >= start]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def probe_target() -> Iterator[ProbeTarget]:
    target = ProbeTarget()
    yield target
    target.close()


def _replicas(
    hub_process_factory: Any, nats_server_factory: Any, database_url: str, lease: float
) -> dict[str, HubProcess]:
    """Three replicas that all see each other live; by replica id."""
    nats = nats_server_factory.single()
    env = {
        "NATS_URL": nats.url,
        "CENTRAL_HUB_CLUSTER": f"checks{uuid.uuid4().hex[:8]}",
        "CENTRAL_HUB_REPLICA_LEASE_SECONDS": str(lease),
        "CENTRAL_HUB_REAPER_INTERVAL_SECONDS": "0.2",
    }
    # started side by side, as an orchestrator would; they take turns to migrate the database
    with ThreadPoolExecutor(3) as pool:
        hubs = list(pool.map(lambda _: hub_process_factory(database_url=database_url, **env), range(3)))
    by_id: dict[str, HubProcess] = {}
    for hp in hubs:
        doc = wait_until_sync(
            lambda hp=hp: (
                (d := httpx.get(f"{hp.url}/api/v1/replicas", timeout=5).json())
                and sum(r["live"] for r in d["replicas"]) == 3
                and d
            ),
            what="three live replicas",
        )
        by_id[doc["replica_id"]] = hp
    assert len(by_id) == 3
    return by_id


def _register(url: str, port: int, service: str) -> str:
    resp = httpx.post(
        f"{url}/api/v1/services/register",
        json={
            "name": service,
            "host": "127.0.0.1",
            "port": port,
            "health_endpoint": "/health",
            "check": {
                "type": "http",
                "interval_seconds": INTERVAL,
                "timeout_seconds": 0.5,
                "failures_before_critical": 2,
                "successes_before_passing": 1,
            },
        },
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


def _window(target: ProbeTarget, seconds: float) -> list[tuple[float, str]]:
    start = time.monotonic()
    time.sleep(seconds)
    return [p for p in target.since(start) if p[0] < start + seconds]


def _next_owner(target: ProbeTarget, after: float, not_from: str) -> tuple[float, str]:
    found = wait_until_sync(
        lambda: [p for p in target.since(after) if p[1] != not_from],
        timeout=10,
        every=0.02,
        what="a probe from another replica",
    )
    return found[0]  # type: ignore[no-any-return]


def test_each_check_runs_on_one_replica_and_moves_within_two_intervals_when_it_dies(
    hub_process_factory: Any, nats_server_factory: Any, fresh_pg: str, probe_target: ProbeTarget
) -> None:
    hubs = _replicas(hub_process_factory, nats_server_factory, fresh_pg, lease=0.8)
    url = next(iter(hubs.values())).url
    _register(url, probe_target.port, "probed")
    wait_until_sync(lambda: probe_target.since(0), what="the first probe")

    window = _window(probe_target, 5.0)
    senders = {replica for _, replica in window}
    # one probe per interval from one replica, not one per replica
    assert 4 <= len(window) <= 6, window
    assert len(senders) == 1 and senders <= set(hubs), senders
    (owner,) = senders
    assert probe_target.user_agents == {f"centralhub-health/{__version__} (replica {owner})"}
    health = httpx.get(f"{url}/api/v1/services/probed/health", timeout=5).json()
    assert health["instances"][0]["checked_by"] == owner

    # kill -9 the replica that runs it, just after one of its probes
    seen = len(probe_target.since(0))
    wait_until_sync(lambda: len(probe_target.since(0)) > seen, every=0.01, what="the next probe")
    hubs[owner].stop(signal.SIGKILL)
    last_by_owner = max(t for t, r in probe_target.since(0) if r == owner)
    taken_at, heir = _next_owner(probe_target, last_by_owner, owner)
    assert heir in hubs and heir != owner
    assert taken_at - last_by_owner <= 2 * INTERVAL, taken_at - last_by_owner

    # and from then on, one replica again
    window = _window(probe_target, 3.0)
    assert 2 <= len(window) <= 4 and {r for _, r in window} == {heir}, window
    survivor = next(hp for rid, hp in hubs.items() if rid != owner)
    listed = httpx.get(f"{survivor.url}/api/v1/replicas", timeout=5).json()["replicas"]
    assert sorted(r["replica_id"] for r in listed if r["live"]) == sorted(set(hubs) - {owner})


def test_a_replica_stopped_with_sigterm_hands_its_checks_over_at_once(
    hub_process_factory: Any, nats_server_factory: Any, fresh_pg: str, probe_target: ProbeTarget
) -> None:
    # a lease far longer than the takeover: only the stopping replica's hand-over explains it
    hubs = _replicas(hub_process_factory, nats_server_factory, fresh_pg, lease=30)
    url = next(iter(hubs.values())).url
    _register(url, probe_target.port, "handed-over")
    window = _window(probe_target, 3.0)
    (owner,) = {r for _, r in window}

    seen = len(probe_target.since(0))
    wait_until_sync(lambda: len(probe_target.since(0)) > seen, every=0.01, what="the next probe")
    stopped_at = time.monotonic()
    assert hubs[owner].stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    last_by_owner = max(t for t, r in probe_target.since(0) if r == owner)
    taken_at, heir = _next_owner(probe_target, last_by_owner, owner)
    assert heir != owner
    assert taken_at - stopped_at <= 2 * INTERVAL, taken_at - stopped_at
    for rid, hp in hubs.items():
        if rid != owner:
            listed = httpx.get(f"{hp.url}/api/v1/replicas", timeout=5).json()["replicas"]
            assert owner not in {r["replica_id"] for r in listed}


def _alerts(url: str, service: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{url}/api/v1/alerts", params={"target": service}, timeout=5)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["alerts"])


def _status_everywhere(hubs: dict[str, HubProcess], service: str, status: str) -> bool:
    for hp in hubs.values():
        doc = httpx.get(f"{hp.url}/api/v1/services/{service}", timeout=5).json()
        if [i["status"] for i in doc["instances"]] != [status]:
            return False
    return True


def test_one_status_change_raises_one_alert_across_three_replicas_checked_or_expired(
    hub_process_factory: Any, nats_server_factory: Any, fresh_pg: str, probe_target: ProbeTarget
) -> None:
    hubs = _replicas(hub_process_factory, nats_server_factory, fresh_pg, lease=30)
    url = next(iter(hubs.values())).url
    instance_id = _register(url, probe_target.port, "flaky")
    # every replica's TTL reaper finds this one expired; one of them stores (and alerts on) it
    resp = httpx.post(
        f"{url}/api/v1/services/register",
        json={"name": "silent", "host": "10.0.0.9", "port": 9, "ttl_seconds": 1},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    silent_id = resp.json()["instance_id"]
    wait_until_sync(lambda: probe_target.since(0), what="the first probe")

    probe_target.status = 500
    wait_until_sync(lambda: _status_everywhere(hubs, "flaky", "critical"), what="critical on every replica")
    wait_until_sync(lambda: _status_everywhere(hubs, "silent", "critical"), what="expired on every replica")
    time.sleep(1.0)  # time for any replica that would alert to have done so
    for hp in hubs.values():
        down = [a for a in _alerts(hp.url, "flaky") if a["event"] == "down"]
        assert [(a["instance_id"], a["count"]) for a in down] == [(instance_id, 1)], down
        down = [a for a in _alerts(hp.url, "silent") if a["event"] == "down"]
        assert [(a["instance_id"], a["count"]) for a in down] == [(silent_id, 1)], down

    probe_target.status = 200
    wait_until_sync(lambda: _status_everywhere(hubs, "flaky", "passing"), what="passing on every replica")
    time.sleep(1.0)
    for hp in hubs.values():
        events = sorted(a["event"] for a in _alerts(hp.url, "flaky"))
        assert events == ["down", "recovery"], events

"""The Consul-compatible API driven by py-consul, a maintained third-party Consul client,
against real hub processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import consul
import httpx
import pytest

from tests.auth.test_cli import _cli
from tests.auth_support import SECRET
from tests.conftest import create_pg_database, drop_pg_database

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["sqlite", "postgres"])
def hub_url_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'consul.db'}"
        return
    url = create_pg_database("centralhub_consul")
    try:
        yield url
    finally:
        drop_pg_database(url)


class Blocked:
    """A blocking call run in a thread, as a watcher would: started now, result when it returns."""

    def __init__(self, call: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.returned_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Any) -> None:
        try:
            self.result = call()
        except BaseException as exc:  # shown by the test
            self.error = exc
        self.returned_at = time.monotonic()

    def done(self, timeout: float) -> bool:
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return not self._thread.is_alive()


def test_register_ttl_health_blocking_query_and_kv_cas(hub_process_factory: Any, hub_url_db: str) -> None:
    hub = hub_process_factory(database_url=hub_url_db)
    c = consul.Consul(host="127.0.0.1", port=hub.port)
    name, sid = f"pricing-{uuid.uuid4().hex[:6]}", f"pricing-{uuid.uuid4().hex[:6]}-1"

    assert c.agent.self()["Config"]["Datacenter"] == "dc1"
    assert c.status.leader() == f"127.0.0.1:{hub.port}"
    assert c.agent.service.register(
        name,
        service_id=sid,
        address="127.0.0.1",
        port=9001,
        tags=["v1", "primary"],
        meta={"team": "fx"},
        check=consul.Check.ttl("30s"),
    )
    services = c.agent.services()
    assert services[sid]["Service"] == name and services[sid]["Port"] == 9001
    assert services[sid]["Meta"] == {"team": "fx"} and services[sid]["Tags"] == ["v1", "primary"]
    # the same registration through the hub's own API: one store
    native = httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=10).json()
    assert [(i["host"], i["port"], i["tags"]) for i in native["instances"]] == [
        ("127.0.0.1", 9001, ["v1", "primary"])
    ]

    assert c.agent.check.ttl_fail(f"service:{sid}", notes="broken")
    _, entries = c.health.service(name, passing=True)
    assert entries == []
    _, entries = c.health.service(name)
    [check] = [ch for ch in entries[0]["Checks"] if ch["CheckID"] == f"service:{sid}"]
    assert check["Status"] == "critical"
    assert c.agent.check.ttl_pass(f"service:{sid}")
    index, entries = c.health.service(name, passing=True)
    assert [e["Service"]["ID"] for e in entries] == [sid]
    assert entries[0]["Service"]["Address"] == "127.0.0.1" and entries[0]["Node"]["Node"] == "127.0.0.1"
    assert c.health.service(name, tag="primary")[1] and not c.health.service(name, tag="canary")[1]

    # a blocking query on this service: another service's change does not wake it, its own does
    watcher = Blocked(lambda: c.health.service(name, index=index, wait="60s"))
    assert c.agent.service.register(f"other-{uuid.uuid4().hex[:6]}", port=9100, address="127.0.0.2")
    assert not watcher.done(timeout=2.0), "woken by a change to another service"
    changed_at = time.monotonic()
    assert c.agent.service.register(name, service_id=f"{sid}-b", address="127.0.0.3", port=9002)
    assert watcher.done(timeout=20)
    assert watcher.returned_at is not None and watcher.returned_at - changed_at < 5
    new_index, entries = watcher.result
    assert int(new_index) > int(index) and len(entries) == 2

    names = c.catalog.services()[1]
    assert names[name] == ["primary", "v1"]
    catalog_index, listed = c.catalog.service(name, tag="primary")
    assert [e["ServiceID"] for e in listed] == [sid] and listed[0]["ServicePort"] == 9001
    assert {n["Node"] for n in c.catalog.nodes()[1]} >= {"127.0.0.1", "127.0.0.3"}
    assert c.agent.service.deregister(f"{sid}-b")
    _, listed = c.catalog.service(name)
    assert [e["ServiceID"] for e in listed] == [sid]

    # KV with check-and-set
    prefix = f"app-{uuid.uuid4().hex[:6]}/"
    assert c.kv.put(prefix + "db/url", "postgres://x", flags=7)
    kv_index, item = c.kv.get(prefix + "db/url")
    assert item["Value"] == b"postgres://x" and item["Flags"] == 7
    assert item["CreateIndex"] == item["ModifyIndex"] == int(kv_index)
    assert c.kv.put(prefix + "db/url", "stale", cas=item["ModifyIndex"] - 1) is False
    assert c.kv.put(prefix + "db/url", "new", cas=0) is False  # create-only: it exists
    assert c.kv.put(prefix + "db/url", "postgres://y", cas=item["ModifyIndex"]) is True
    _, item2 = c.kv.get(prefix + "db/url")
    assert item2["Value"] == b"postgres://y" and item2["ModifyIndex"] > item["ModifyIndex"]
    assert item2["CreateIndex"] == item["CreateIndex"]
    assert c.kv.put(prefix + "feature", "on", cas=0) is True
    _, everything = c.kv.get(prefix, recurse=True)
    assert [e["Key"] for e in everything] == [prefix + "db/url", prefix + "feature"]
    assert c.kv.get(prefix, keys=True)[1] == [prefix + "db/url", prefix + "feature"]
    assert c.kv.get(prefix, keys=True, separator="/")[1] == [prefix + "db/", prefix + "feature"]
    raw = httpx.get(f"{hub.url}/v1/kv/{prefix}db/url", params={"raw": ""}, timeout=10)
    assert raw.content == b"postgres://y" and int(raw.headers["X-Consul-Index"]) == item2["ModifyIndex"]

    # a blocking read of one key: a write to another key leaves it waiting, its own wakes it
    kv_watch = Blocked(lambda: c.kv.get(prefix + "db/url", index=item2["ModifyIndex"], wait="60s"))
    assert c.kv.put(prefix + "feature", "off")
    assert not kv_watch.done(timeout=2.0), "woken by a write to another key"
    assert c.kv.put(prefix + "db/url", "postgres://z")
    assert kv_watch.done(timeout=20)
    assert kv_watch.result[1]["Value"] == b"postgres://z"

    assert c.kv.delete(prefix + "db/url", cas=1) is False
    assert c.kv.delete(prefix, recurse=True)
    assert c.kv.get(prefix + "feature") == (c.kv.get(prefix + "feature")[0], None)
    missing = httpx.get(f"{hub.url}/v1/kv/{prefix}feature", timeout=10)
    assert missing.status_code == 404 and int(missing.headers["X-Consul-Index"]) > 0
    for resp in (raw, missing):
        assert resp.headers["X-Consul-KnownLeader"] == "true" and resp.headers["X-Consul-LastContact"] == "0"

    assert c.agent.service.deregister(sid)
    assert sid not in c.agent.services()
    assert httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=10).status_code == 404


def test_http_check_deregister_after_and_bad_definitions(hub_process_factory: Any, tmp_path: Path) -> None:
    hub = hub_process_factory()
    c = consul.Consul(host="127.0.0.1", port=hub.port)
    name = f"web-{uuid.uuid4().hex[:6]}"
    check = consul.Check.http("http://127.0.0.1:9/healthz", interval="5s", timeout="1s", deregister="90s")
    assert c.agent.service.register(name, service_id=name, address="127.0.0.1", port=9, check=check)
    [inst] = httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=10).json()["instances"]
    assert inst["health_endpoint"] == "/healthz"
    assert inst["check"]["type"] == "http" and inst["check"]["interval_seconds"] == 5
    assert inst["metadata"]["deregister_critical_after_seconds"] == 90
    # the hub runs an HTTP check itself: a client may not report it
    with pytest.raises(consul.ConsulException, match="not a TTL check"):
        c.agent.check.ttl_pass(f"service:{name}")

    bad = [
        ({"Name": name}, "Port is required"),
        ({"Port": 80}, "Name is required"),
        ({"Name": name, "Port": 80, "Check": {"Interval": "10s"}}, "needs one of HTTP, TCP or TTL"),
        ({"Name": name, "Port": 80, "Check": {"TTL": "soon"}}, "TTL must be a duration"),
        ({"Name": name, "Port": 80, "Meta": {"n": 1}}, "Meta must be a map of strings"),
        ({"Name": "Not A Name!", "Port": 80}, "invalid service definition"),
    ]
    for body, message in bad:
        resp = httpx.put(f"{hub.url}/v1/agent/service/register", json=body, timeout=10)
        assert resp.status_code == 400 and message in resp.text, (body, resp.text)
    assert httpx.put(f"{hub.url}/v1/agent/service/deregister/nope", timeout=10).status_code == 404
    assert httpx.put(f"{hub.url}/v1/agent/check/pass/service:nope", timeout=10).status_code == 404
    assert httpx.get(f"{hub.url}/v1/kv/x", params={"index": "soon"}, timeout=10).status_code == 400
    assert (
        httpx.get(f"{hub.url}/v1/kv/x", params={"index": "1", "wait": "forever"}, timeout=10).status_code
        == 400
    )
    assert httpx.put(f"{hub.url}/v1/kv/x", params={"acquire": "abc"}, timeout=10).status_code == 400
    big = httpx.put(f"{hub.url}/v1/kv/x", content=b"x" * (512 * 1024 + 1), timeout=10)
    assert big.status_code == 413


def test_tokens_and_namespaces(hub_process_factory: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    tenant_a, tenant_b = f"a{uuid.uuid4().hex[:6]}", f"b{uuid.uuid4().hex[:6]}"
    made = _cli("keys", "create", "admin", "--scope", "admin", "--database-url", url)
    assert made.returncode == 0, made.stderr
    admin = made.stdout.strip().splitlines()[-1]
    made = _cli(
        "keys", "create", "team-a", "--scope", "registry:write", "--scope", "registry:read",
        "--scope", "config:read", "--scope", "config:write", "--tenant", tenant_a, "--database-url", url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    team_a = made.stdout.strip().splitlines()[-1]
    hub = hub_process_factory(database_url=url, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET=SECRET)

    anonymous = consul.Consul(host="127.0.0.1", port=hub.port)
    with pytest.raises(consul.ACLDisabled):  # 401: a credential is required
        anonymous.catalog.services()
    a = consul.Consul(host="127.0.0.1", port=hub.port, token=team_a)  # X-Consul-Token
    assert a.agent.service.register("ledger", service_id="ledger-1", address="10.0.0.1", port=80)
    assert a.kv.put("limits/max", "5")
    # the key's own tenant without naming it, and ?token= works as well as the header
    by_query = httpx.get(f"{hub.url}/v1/catalog/services", params={"token": team_a}, timeout=10)
    assert by_query.status_code == 200 and "ledger" in by_query.json()
    # an admin sees tenant A as namespace A; the default namespace is another tenant
    root = consul.Consul(host="127.0.0.1", port=hub.port, token=admin)
    assert "ledger" not in root.catalog.services()[1]
    in_a = httpx.get(
        f"{hub.url}/v1/catalog/services", params={"ns": tenant_a}, headers={"X-Consul-Token": admin}
    )
    assert "ledger" in in_a.json()
    assert root.kv.get("limits/max")[1] is None
    got = httpx.get(
        f"{hub.url}/v1/kv/limits/max", params={"ns": tenant_a, "raw": "1", "token": admin}, timeout=10
    )
    assert got.content == b"5"
    # tenant A's key may not name another namespace
    other = httpx.get(
        f"{hub.url}/v1/catalog/services", params={"ns": tenant_b}, headers={"X-Consul-Token": team_a}
    )
    assert other.status_code == 403 and tenant_b in other.text


def test_deregister_critical_service_after_removes_a_failing_checked_service(
    hub_process_factory: Any,
) -> None:
    hub = hub_process_factory()
    c = consul.Consul(host="127.0.0.1", port=hub.port)
    name = f"gone-{uuid.uuid4().hex[:6]}"
    with socket.socket() as probe:  # a port nothing listens on: the check fails
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    check = consul.Check.tcp("127.0.0.1", dead_port, interval="1s", timeout="1s", deregister="2s")
    assert c.agent.service.register(name, service_id=name, address="127.0.0.1", port=dead_port, check=check)
    started = time.monotonic()
    while httpx.get(f"{hub.url}/api/v1/services/{name}", timeout=10).status_code != 404:
        assert time.monotonic() - started < 30, "still registered 30 s after its check began failing"
        time.sleep(0.5)
    assert name not in c.agent.services()

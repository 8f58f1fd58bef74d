"""Tenants stay apart: alerts, silences, acknowledgements, deployments, contracts, dashboard,
Prometheus service discovery and metrics, on SQLite and PostgreSQL.

With auth off the tenant comes from ``X-Tenant-ID`` and the caller is the anonymous principal
(no tenant limit); a tenant-limited principal is set in-process for the service-level checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from centralhub.alerts.models import Alert
from centralhub.auth.context import current_principal
from centralhub.auth.models import Principal, expand
from centralhub.auth.tenancy import Forbidden, view_tenant
from centralhub.core.errors import NotFound
from centralhub.hub import Hub

T1, T2 = "tenant-one", "tenant-two"
H1, H2 = {"X-Tenant-ID": T1}, {"X-Tenant-ID": T2}


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """Make ``principal`` the caller of everything inside the block (as the auth middleware does)."""
    token = current_principal.set(principal)
    try:
        yield
    finally:
        current_principal.reset(token)


def limited(tenant: str, *scopes: str) -> Principal:
    return Principal(name=f"{tenant}-key", scopes=expand(set(scopes or ("ops",))), tenant=tenant)


async def _raise(hub: Hub, tenant: str | None, target: str) -> Alert:
    alert = await hub.alerts.raise_alert(
        kind="service" if tenant else "infrastructure",
        target=target,
        event="down",
        message=f"{target} is down",
        tenant_id=tenant,
    )
    assert alert is not None
    return alert


async def _stored(hub: Hub, alert_id: str) -> Alert:
    (found,) = [a for a in await hub.alerts.search(limit=1000) if a.id == alert_id]
    return found


async def _register(client: httpx.AsyncClient, headers: dict[str, str], name: str, port: int) -> str:
    body = {"name": name, "host": "127.0.0.1", "port": port, "version": "v1"}
    resp = await client.post("/api/v1/services/register", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


# ---------------------------------------------------------------------- alerts and silences
async def test_service_alerts_carry_their_tenant(client: httpx.AsyncClient, hub: Hub) -> None:
    from centralhub.registry.models import InstanceStatus

    name = f"pay-{uuid.uuid4().hex[:6]}"
    inst_id = await _register(client, H1, name, 9001)
    await hub.registry.set_status(hub.registry.get_instance(T1, name, inst_id), InstanceStatus.CRITICAL)
    await hub.alerts.wait_delivered()
    mine = (await client.get("/api/v1/alerts", params={"target": name}, headers=H1)).json()["alerts"]
    assert [(a["tenant_id"], a["kind"]) for a in mine] == [(T1, "service")]
    assert (await client.get("/api/v1/alerts", params={"target": name}, headers=H2)).json()["count"] == 0


async def test_a_tenants_silence_covers_only_that_tenants_alerts(client: httpx.AsyncClient, hub: Hub) -> None:
    resp = await client.post(
        "/api/v1/alerts/silences", json={"target": "pay*", "duration_seconds": 60}, headers=H1
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["tenant_id"] == T1

    own = await _raise(hub, T1, "pay-api")
    other = await _raise(hub, T2, "pay-api")
    infra = await _raise(hub, None, "pay-db")
    assert own.silenced is True
    assert other.silenced is False  # same target, another tenant
    assert infra.silenced is False  # a tenant never silences the global infrastructure alerts
    assert (await _stored(hub, other.id)).silenced is False

    # each tenant lists its own alerts; the anonymous caller (no tenant limit) sees global ones too
    seen1 = {a["id"] for a in (await client.get("/api/v1/alerts", headers=H1)).json()["alerts"]}
    seen2 = {a["id"] for a in (await client.get("/api/v1/alerts", headers=H2)).json()["alerts"]}
    assert seen1 == {own.id, infra.id} and seen2 == {other.id, infra.id}

    silences2 = (await client.get("/api/v1/alerts/silences", headers=H2)).json()["silences"]
    assert silences2 == []
    silences1 = (await client.get("/api/v1/alerts/silences", headers=H1)).json()["silences"]
    assert [s["id"] for s in silences1] == [resp.json()["id"]]


async def test_another_tenants_alert_or_silence_is_not_found(client: httpx.AsyncClient, hub: Hub) -> None:
    alert = await _raise(hub, T1, "ledger")
    silence = (
        await client.post("/api/v1/alerts/silences", json={"target": "x", "duration_seconds": 60}, headers=H1)
    ).json()

    resp = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"by": "mallory"}, headers=H2)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert (await _stored(hub, alert.id)).acknowledged is False
    resp = await client.delete(f"/api/v1/alerts/silences/{silence['id']}", headers=H2)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    assert [
        s["id"] for s in (await client.get("/api/v1/alerts/silences", headers=H1)).json()["silences"]
    ] == [silence["id"]]

    ack = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"by": "alice"}, headers=H1)
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "alice"
    assert (await client.delete(f"/api/v1/alerts/silences/{silence['id']}", headers=H1)).status_code == 204
    assert (await client.get("/api/v1/alerts/silences", headers=H1)).json()["silences"] == []


async def test_global_silence_covers_infrastructure_only_and_needs_no_tenant_limit(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    body = {"target": "kafka*", "duration_seconds": 60, "global": True}
    resp = await client.post("/api/v1/alerts/silences", json=body, headers=H1)
    assert resp.status_code == 201, resp.text
    global_id = resp.json()["id"]
    assert resp.json()["tenant_id"] is None
    assert (await _raise(hub, None, "kafka-1")).silenced is True
    assert (await _raise(hub, T1, "kafka-consumer")).silenced is False  # a tenant's alert: not global

    infra = await _raise(hub, None, "kafka-2")
    t1_alert = await _raise(hub, T1, "orders")
    t2_alert = await _raise(hub, T2, "orders")

    with acting_as(limited(T1)):
        with pytest.raises(Forbidden, match="tenant limit"):
            await hub.alerts.silence("kafka*", 60, tenant_id=None)
        with pytest.raises(Forbidden):
            await hub.alerts.silence("orders", 60, tenant_id=T2)
        # the global alerts and silences are out of reach of a tenant-limited caller
        found = {a.id for a in await hub.alerts.search(tenant_id=T1)}
        assert t1_alert.id in found and infra.id not in found
        assert {a.id for a in await hub.alerts.search()} == found
        assert await hub.alerts.search(tenant_id=T2) == []
        assert all(a["tenant_id"] == T1 for a in hub.alerts.history(tenant_id=T1))
        assert hub.alerts.silences(T1) == []
        with pytest.raises(NotFound):
            await hub.alerts.acknowledge(infra.id, tenant_id=T1)
        with pytest.raises(NotFound):
            await hub.alerts.acknowledge(t2_alert.id, tenant_id=T2)  # its own tenant only, whatever it says
        with pytest.raises(NotFound):
            await hub.alerts.remove_silence(global_id, tenant_id=T1)
        own = await hub.alerts.silence("orders", 60, tenant_id=T1)
        assert own.tenant_id == T1 and [s.id for s in hub.alerts.silences(T1)] == [own.id]

    # ops is needed too, even without a tenant limit
    reader = Principal(name="reader", scopes=expand({"registry:read"}))
    with acting_as(reader), pytest.raises(Forbidden, match="ops"):
        await hub.alerts.silence("kafka*", 60, tenant_id=None)
    with acting_as(Principal(name="ops", scopes=expand({"ops"}))):
        assert (await hub.alerts.acknowledge(infra.id, tenant_id=T1)).acknowledged is True
        assert (await hub.alerts.silence("zookeeper", 60, tenant_id=None)).tenant_id is None


# ---------------------------------------------------------------------- deployments and contracts
async def test_another_tenants_deployment_is_not_found(client: httpx.AsyncClient) -> None:
    name = f"engine-{uuid.uuid4().hex[:6]}"
    for port in (9101, 9102):
        await _register(client, H1, name, port)
    body = {"service": name, "version": "v2", "strategy": "rolling", "batch_size": 1}
    resp = await client.post("/api/v1/deployments", json=body, headers=H1)
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]

    for method, path in (
        ("GET", f"/api/v1/deployments/{dep_id}"),
        ("POST", f"/api/v1/deployments/{dep_id}/cancel"),
    ):
        other = await client.request(method, path, headers=H2)
        assert other.status_code == 404 and other.json()["error"]["code"] == "not_found", other.text
    assert (await client.get("/api/v1/deployments", headers=H2)).json()["deployments"] == []
    assert (await client.get(f"/api/v1/deployments/{dep_id}", headers=H1)).status_code == 200
    cancelled = await client.post(f"/api/v1/deployments/{dep_id}/cancel", headers=H1)
    assert cancelled.status_code in (200, 409), cancelled.text  # 409 only if it already finished
    assert [d["id"] for d in (await client.get("/api/v1/deployments", headers=H1)).json()["deployments"]] == [
        dep_id
    ]


async def test_another_tenants_contract_is_not_found(client: httpx.AsyncClient) -> None:
    name = f"quotes-{uuid.uuid4().hex[:6]}"
    schemas = {"tick": {"type": "object", "properties": {"price": {"type": "number"}}}}
    resp = await client.put(
        f"/api/v1/contracts/{name}", json={"version": "1.0.0", "schemas": schemas}, headers=H1
    )
    assert resp.status_code == 200, resp.text

    other = await client.get(f"/api/v1/contracts/{name}", headers=H2)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert (await client.get("/api/v1/contracts", headers=H2)).json()["contracts"] == []
    assert (await client.delete(f"/api/v1/contracts/{name}", headers=H2)).status_code == 404
    assert (await client.get(f"/api/v1/contracts/{name}", headers=H1)).json()["version"] == "1.0.0"


# ---------------------------------------------------------------------- dashboard and Prometheus SD
async def test_dashboard_and_service_discovery_show_the_callers_tenant(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    one, two = f"pay-{uuid.uuid4().hex[:6]}", f"ledger-{uuid.uuid4().hex[:6]}"
    await _register(client, H1, one, 9201)
    await _register(client, H2, two, 9202)
    t2_alert = await _raise(hub, T2, two)

    doc = (await client.get("/api/v1/dashboard/data", headers=H1)).json()
    assert doc["tenant"] == T1 and doc["may_choose_tenant"] is True
    assert [s["name"] for s in doc["services"]] == [one]
    assert t2_alert.id not in {a["id"] for a in doc["alerts"]}
    assert {n["name"] for n in doc["graph"]["nodes"]} == {one}
    # the anonymous caller (auth off) may choose a tenant, or all of them
    doc = (await client.get("/api/v1/dashboard/data", params={"tenant": T2}, headers=H1)).json()
    assert [s["name"] for s in doc["services"]] == [two]
    assert t2_alert.id in {a["id"] for a in doc["alerts"]}
    doc = (await client.get("/api/v1/dashboard/data", params={"tenant": "all"})).json()
    assert doc["tenant"] is None and {one, two} <= {s["name"] for s in doc["services"]}

    sd1 = (await client.get("/api/v1/sd/prometheus", headers=H1)).json()
    assert {g["labels"]["tenant"] for g in sd1} == {T1} and sd1[0]["targets"] == ["127.0.0.1:9201"]
    sd2 = (await client.get("/api/v1/sd/prometheus", params={"tenant": T2})).json()
    assert {g["labels"]["tenant"] for g in sd2} == {T2}
    assert (await client.get("/api/v1/sd/prometheus")).json() == []  # the default tenant has nothing
    bad = await client.get("/api/v1/dashboard/data", params={"tenant": "no.dots"})
    assert bad.status_code == 400 and "tenant" in bad.json()["error"]["message"]


def test_only_an_unlimited_admin_may_choose_the_tenant_of_a_view() -> None:
    ops = Principal(name="ops", scopes=expand({"ops", "registry:read"}))
    admin_of_t1 = Principal(name="t1-admin", scopes=expand({"admin"}), tenant=T1)
    admin = Principal(name="root", scopes=expand({"admin"}))
    assert view_tenant(None, T1, ops) == T1
    assert view_tenant(T1, T1, admin_of_t1) == T1
    for who in (ops, admin_of_t1):
        with pytest.raises(Forbidden, match="admin"):
            view_tenant(T2, T1, who)
        with pytest.raises(Forbidden, match="every tenant"):
            view_tenant("all", T1, who)
    assert view_tenant(T2, T1, admin) == T2
    assert view_tenant("all", T1, admin) is None


# ---------------------------------------------------------------------- metrics
async def test_per_service_metrics_are_labelled_by_tenant(client: httpx.AsyncClient, hub: Hub) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    name = f"risk-{uuid.uuid4().hex[:6]}"
    for n, headers in enumerate((H1, H1, H2)):
        resp = await client.post(f"/api/v1/config/{name}", json={"limit": n}, headers=headers)
        assert resp.status_code == 200, resp.text
    await hub.events.drain()
    samples = {
        (s.labels.get("tenant"), s.labels.get("service")): s.value
        for family in text_string_to_metric_families((await client.get("/metrics")).text)
        if family.name == "centralhub_config_changes"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert samples[(T1, name)] == 2 and samples[(T2, name)] == 1

    def alerts_sent(text: str) -> dict[str | None, float]:
        out: dict[str | None, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "centralhub_alerts_sent_total" and s.labels.get("channel") == "log":
                    out[s.labels.get("tenant")] = out.get(s.labels.get("tenant"), 0) + s.value
        return out

    before = alerts_sent((await client.get("/metrics")).text)
    await _raise(hub, T2, f"{name}-a")
    await _raise(hub, None, f"{name}-b")
    await hub.alerts.wait_delivered()
    after = alerts_sent((await client.get("/metrics")).text)
    assert after[T2] - before.get(T2, 0) == 1
    assert after.get(T1, 0) - before.get(T1, 0) == 0
    assert after[""] - before.get("", 0) == 1  # global infrastructure alerts: empty tenant


# ---------------------------------------------------------------------- with auth on, real keys
async def test_tenant_keys_stay_in_their_tenant(auth_client: httpx.AsyncClient, auth_hub: Hub) -> None:
    from tests.auth_support import bearer, make_key

    hub, client = auth_hub, auth_client
    scopes = ("ops", "registry:write", "config:write")
    k1 = bearer(await make_key(hub, *scopes, tenant=T1))
    k2 = bearer(await make_key(hub, *scopes, tenant=T2))
    root = bearer(await make_key(hub, "admin"))
    one, two = f"pay-{uuid.uuid4().hex[:6]}", f"ledger-{uuid.uuid4().hex[:6]}"
    await _register(client, k1, one, 9301)
    await _register(client, k2, two, 9302)
    a1, a2, infra = await _raise(hub, T1, one), await _raise(hub, T2, two), await _raise(hub, None, "kafka")

    # alerts: own tenant only; the global infrastructure alerts are for callers without a tenant limit
    assert {a["id"] for a in (await client.get("/api/v1/alerts", headers=k1)).json()["alerts"]} == {a1.id}
    assert {a["id"] for a in (await client.get("/api/v1/alerts", headers=root)).json()["alerts"]} == {
        infra.id
    }
    admin_t2 = (await client.get("/api/v1/alerts", headers={**root, **H2})).json()["alerts"]
    assert {a["id"] for a in admin_t2} == {a2.id, infra.id}
    for alert_id in (a1.id, infra.id):
        resp = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=k2)
        assert resp.status_code == 404, resp.text
    assert (await client.post(f"/api/v1/alerts/{a2.id}/acknowledge", headers=k2)).status_code == 200

    # silences: a tenant-limited key cannot silence infrastructure; its own silence covers its own alerts
    glob = {"target": "*", "duration_seconds": 60}
    resp = await client.post("/api/v1/alerts/silences", json={**glob, "global": True}, headers=k1)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert "tenant" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/alerts/silences", json=glob, headers=k1)
    assert resp.status_code == 201 and resp.json()["tenant_id"] == T1
    silence_id = resp.json()["id"]
    assert (await _raise(hub, T1, f"{one}-b")).silenced is True
    assert (await _raise(hub, T2, f"{two}-b")).silenced is False
    assert (await _raise(hub, None, "zookeeper")).silenced is False
    assert (await client.get("/api/v1/alerts/silences", headers=k2)).json()["silences"] == []
    assert (await client.delete(f"/api/v1/alerts/silences/{silence_id}", headers=k2)).status_code == 404
    resp = await client.post("/api/v1/alerts/silences", json={**glob, "global": True}, headers=root)
    assert resp.status_code == 201 and resp.json()["tenant_id"] is None
    assert (
        await client.delete(f"/api/v1/alerts/silences/{resp.json()['id']}", headers=k1)
    ).status_code == 404

    # dashboard and service discovery: the key's tenant; only an unlimited admin may choose
    doc = (await client.get("/api/v1/dashboard/data", headers=k1)).json()
    assert doc["tenant"] == T1 and doc["may_choose_tenant"] is False
    assert [s["name"] for s in doc["services"]] == [one]
    assert {a["tenant_id"] for a in doc["alerts"]} == {T1}
    for params in ({"tenant": T2}, {"tenant": "all"}):
        for path in ("/api/v1/dashboard/data", "/api/v1/sd/prometheus"):
            resp = await client.get(path, params=params, headers=k1)
            assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden", (path, resp.text)
    sd = (await client.get("/api/v1/sd/prometheus", headers=k1)).json()
    assert [g["targets"] for g in sd] == [["127.0.0.1:9301"]]
    doc = (await client.get("/api/v1/dashboard/data", params={"tenant": T2}, headers=root)).json()
    assert doc["may_choose_tenant"] is True and [s["name"] for s in doc["services"]] == [two]
    every = (await client.get("/api/v1/sd/prometheus", params={"tenant": "all"}, headers=root)).json()
    assert {g["labels"]["tenant"] for g in every} == {T1, T2}

    # deployments and contracts by id or name: another tenant's is not found
    body = {"service": one, "version": "v2", "strategy": "rolling", "batch_size": 1}
    resp = await client.post("/api/v1/deployments", json=body, headers=k1)
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]
    assert (await client.get(f"/api/v1/deployments/{dep_id}", headers=k2)).status_code == 404
    assert (await client.post(f"/api/v1/deployments/{dep_id}/cancel", headers=k2)).status_code == 404
    assert (await client.get(f"/api/v1/deployments/{dep_id}", headers=k1)).status_code == 200
    contract = {"version": "1.0.0", "schemas": {"tick": {"type": "object"}}}
    assert (await client.put(f"/api/v1/contracts/{one}", json=contract, headers=k1)).status_code == 200
    assert (await client.get(f"/api/v1/contracts/{one}", headers=k2)).status_code == 404
    assert (await client.get(f"/api/v1/contracts/{one}", headers=k1)).status_code == 200
    await client.post(f"/api/v1/deployments/{dep_id}/cancel", headers=k1)

    # health, circuits and the dependency graph read the key's tenant only
    assert (await client.get(f"/api/v1/services/{two}/health", headers=k1)).status_code == 404
    assert list((await client.get("/api/v1/health/services", headers=k1)).json()) == [one]
    assert (await client.get(f"/api/v1/circuits/{two}", headers=k1)).status_code == 404
    assert (await client.get(f"/api/v1/circuits/{one}", headers=k1)).json()["tenant_id"] == T1
    graph = (await client.get("/api/v1/dependencies", headers=k1)).json()
    assert {n["name"] for n in graph["nodes"]} == {one}

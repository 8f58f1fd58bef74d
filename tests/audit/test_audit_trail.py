"""The audit trail: what each write records, searching it over HTTP, and forgetting old entries.

Runs on SQLite and PostgreSQL (the ``hub``/``client`` fixtures are parametrized)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from centralhub.audit.service import AuditLog
from centralhub.config.documents import ConfigValidationError
from centralhub.core.tasks import Supervisor
from centralhub.core.time import ManualClock, parse_rfc3339
from centralhub.hub import Hub
from centralhub.registry.models import Registration
from tests.audit.support import acting_as
from tests.support import wait_until

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DAY = 86400.0


def _name(prefix: str = "svc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _audit(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/audit", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == len(body["entries"])
    return body["entries"]  # type: ignore[no-any-return]


async def test_config_set_patch_rollback_records_who_what_and_before_after(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    name = _name("orders")
    svc = hub.config_service
    with acting_as("deployer", "10.0.0.7"):
        await svc.put("default", name, {"limits": {"max": 10}}, author="label", message="first")
        await svc.patch("default", name, {"limits": {"max": 20}}, author="label")
        await svc.rollback("default", name, "1.0.0", author="label")

    entries = await _audit(client, resource=f"config/{name}")
    assert [e["action"] for e in entries] == ["config.rollback", "config.patch", "config.set"]
    for e in entries:
        assert e["actor"] == "deployer"
        assert e["address"] == "10.0.0.7"
        assert e["tenant_id"] == "default"
        assert RFC3339_MS.match(e["at"])
    rollback, patch, first = entries
    assert first["before"] is None
    assert first["after"] == {"version": "1.0.0", "revision": 1, "config": {"limits": {"max": 10}}}
    assert first["details"]["message"] == "first"
    assert patch["before"]["config"] == {"limits": {"max": 10}}
    assert patch["after"] == {"version": "1.1.0", "revision": 2, "config": {"limits": {"max": 20}}}
    assert rollback["before"]["revision"] == 2
    assert rollback["after"] == {"version": "1.2.0", "revision": 3, "config": {"limits": {"max": 10}}}


async def test_config_writes_over_http_and_schema_are_recorded(client: httpx.AsyncClient) -> None:
    name = _name("http")
    assert (await client.post(f"/api/v1/config/{name}", json={"a": 1})).status_code == 200
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert (await client.put(f"/api/v1/config/{name}/schema", json=schema)).status_code == 200

    entries = await _audit(client, resource=f"config/{name}*")
    assert [e["action"] for e in entries] == ["config.schema", "config.set"]
    # auth is off in this hub: every write is the anonymous caller's
    assert {e["actor"] for e in entries} == {"anonymous"}
    assert entries[0]["resource"] == f"config/{name}/schema"
    assert entries[0]["before"] is None and entries[0]["after"] == schema


async def test_a_refused_write_records_nothing(hub: Hub, client: httpx.AsyncClient) -> None:
    """The entry is written in the change's own transaction: no change, no entry."""
    name = _name("refused")
    await hub.config_service.set_schema("default", name, {"type": "object", "required": ["a"]}, author="x")
    with pytest.raises(ConfigValidationError):
        await hub.config_service.put("default", name, {"b": 1}, author="x")
    assert [e["action"] for e in await _audit(client, resource=f"config/{name}*")] == ["config.schema"]


async def test_filters_since_and_limit(hub: Hub, client: httpx.AsyncClient) -> None:
    clock = ManualClock(1_800_000_000.0)
    hub.audit.clock = clock
    with acting_as("alice"):
        await hub.audit.record("config.set", "config/a", tenant="t1")
    clock.advance(60)
    with acting_as("bob", "192.0.2.1"):
        await hub.audit.record("config.patch", "config/b", tenant="t2")
    clock.advance(60)
    with acting_as("alice"):
        await hub.audit.record("silence.create", "silences/1")

    assert [e["resource"] for e in await _audit(client, actor="alice")] == ["silences/1", "config/a"]
    assert [e["actor"] for e in await _audit(client, action="config.*")] == ["bob", "alice"]
    assert [e["actor"] for e in await _audit(client, action="config.patch")] == ["bob"]
    assert [e["action"] for e in await _audit(client, resource="config/a")] == ["config.set"]
    assert [e["actor"] for e in await _audit(client, tenant="t2")] == ["bob"]
    assert len(await _audit(client, limit=1)) == 1

    since = 1_800_000_000 + 30
    by_epoch = await _audit(client, since=str(since))
    assert [e["action"] for e in by_epoch] == ["silence.create", "config.patch"]
    iso = datetime.fromtimestamp(since, tz=UTC).isoformat()
    assert await _audit(client, since=iso) == by_epoch
    assert (
        await _audit(client, since=datetime.fromtimestamp(since, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        == by_epoch
    )
    assert parse_rfc3339(by_epoch[-1]["at"]) == pytest.approx(1_800_000_060.0)
    # "*" matches only as a trailing wildcard; "%" and "_" are literal characters
    assert await _audit(client, resource="config/%") == []


@pytest.mark.parametrize("since", ["yesterday", "1e400", "-5", "2026-13-01T00:00:00Z"])
async def test_a_bad_since_is_a_400(client: httpx.AsyncClient, since: str) -> None:
    resp = await client.get("/api/v1/audit", params={"since": since})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] and "since" in resp.json()["error"]["message"]


async def test_a_bad_limit_is_refused(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/audit", params={"limit": 0})
    assert resp.status_code == 422
    assert "error" in resp.json()


async def test_retention_deletes_entries_older_than_the_period(hub: Hub) -> None:
    clock = ManualClock(1_800_000_000.0)
    log = AuditLog(hub.database, supervisor=hub.supervisor, retention_days=1, clock=clock)
    await log.record("config.set", "config/old")
    clock.advance(2 * DAY)
    await log.record("config.set", "config/new")
    assert await log.purge() == 1
    assert [e.resource for e in await log.search()] == ["config/new"]
    assert await log.purge() == 0


async def test_the_supervised_retention_task_sweeps(hub: Hub) -> None:
    # the hub runs its own sweep; this one's clock is ours to move
    assert "audit-retention" in hub.supervisor.report()
    clock = ManualClock(1_800_000_000.0)
    supervisor = Supervisor()
    log = AuditLog(hub.database, supervisor=supervisor, retention_days=1, clock=clock, sweep_seconds=0.05)
    await log.record("config.set", "config/old")
    await log.start()
    try:
        clock.advance(1.5 * DAY)

        async def gone() -> bool:
            return not await log.search(resource="config/old")

        await wait_until(gone, timeout=10, what="old audit entry removed")
    finally:
        await log.stop()


async def test_deployments_silences_and_acks_are_recorded(hub: Hub, client: httpx.AsyncClient) -> None:
    name = _name("trading")
    for port in (9101, 9102):
        resp = await client.post(
            "/api/v1/services/register",
            json={"name": name, "host": "127.0.0.1", "port": port, "version": "v1"},
        )
        assert resp.status_code == 201, resp.text
    resp = await client.post("/api/v1/deployments", json={"service": name, "version": "v2", "batch_size": 1})
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"] if "id" in resp.json() else resp.json()["deployment_id"]
    assert (await client.post(f"/api/v1/deployments/{dep_id}/cancel")).status_code == 200

    silence = (
        await client.post("/api/v1/alerts/silences", json={"target": f"{name}*", "duration_seconds": 60})
    ).json()
    assert (await client.delete(f"/api/v1/alerts/silences/{silence['id']}")).status_code == 204

    alert = await hub.alerts.raise_alert(kind="service", target=name, event="down", message="x")
    assert alert is not None
    resp = await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"by": "pager"})
    assert resp.status_code == 200, resp.text

    by_action = {e["action"]: e for e in await _audit(client)}
    created = by_action["deployment.create"]
    assert created["resource"] == f"deployments/{dep_id}"
    assert created["after"]["service"] == name and created["after"]["version"] == "v2"
    assert by_action["deployment.cancel"]["after"]["state"] == "cancelled"
    assert by_action["silence.create"]["resource"] == f"silences/{silence['id']}"
    assert by_action["silence.create"]["after"]["target"] == f"{name}*"
    assert by_action["silence.delete"]["before"]["target"] == f"{name}*"
    assert by_action["alert.ack"]["resource"] == f"alerts/{alert.id}"
    assert by_action["alert.ack"]["details"] == {"by": "pager"}
    # anonymous registrations are the instances' own routine: not recorded
    assert "instance.register" not in by_action


async def test_registry_writes_by_someone_else_are_recorded(hub: Hub, client: httpx.AsyncClient) -> None:
    name = _name("pricing")
    registry = hub.registry

    async def register(port: int) -> str:
        inst, _ = await registry.register("default", Registration(name=name, host="127.0.0.1", port=port))
        return inst.id

    # the instance's own key (bound to its service) registering and leaving: routine, not recorded
    with acting_as("pricing-key", services={name}):
        own = await register(9201)
        await registry.deregister("default", name, own)
    # an operator's key: both recorded
    with acting_as("operator"):
        other = await register(9202)
        await registry.deregister("default", name, other)
    # auth off: a registration is routine, a removal is recorded
    anon = await register(9203)
    await registry.deregister("default", name, anon)

    entries = await _audit(client, resource=f"instances/{name}/*")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("instance.deregister", "anonymous"),
        ("instance.deregister", "operator"),
        ("instance.register", "operator"),
    ]
    assert entries[0]["resource"] == f"instances/{name}/{anon}"
    assert entries[1]["before"]["port"] == 9202
    assert entries[2]["after"]["instance_id"] == other

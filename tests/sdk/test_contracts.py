"""Contracts: storage on SQLite and PostgreSQL, compatibility rules, instance flags, SDK validation."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from centralhub.contracts.compatibility import breaking_changes
from centralhub.contracts.models import ContractChanged
from centralhub.hub import Hub
from centralhub.registry import repository as registry_repository
from centralhub.sdk.client import CentralHubClient
from centralhub.sdk.contracts import ContractConflict, ContractViolation
from centralhub.server.app import create_app

pytestmark = pytest.mark.timeout(60)

TICK_V1: dict[str, Any] = {
    "price.tick": {
        "type": "object",
        "required": ["symbol", "price"],
        "properties": {
            "symbol": {"type": "string"},
            "price": {"type": "number"},
            "levels": {
                "type": "array",
                "items": {"type": "object", "properties": {"qty": {"type": "integer"}}},
            },
        },
    }
}


def _name() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def _with(schema: dict[str, Any], **props: Any) -> dict[str, Any]:
    out = {
        k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
        for k, v in schema.items()
    }
    out.update(props)
    return out


# ---------------------------------------------------------------- pure rules
def test_breaking_changes_rules() -> None:
    tick = TICK_V1["price.tick"]
    assert breaking_changes(TICK_V1, TICK_V1) == []
    # an optional field added is compatible
    added_optional = _with(tick, properties={**tick["properties"], "venue": {"type": "string"}})
    assert breaking_changes(TICK_V1, {"price.tick": added_optional}) == []
    assert breaking_changes(TICK_V1, {"price.tick": _with(tick, required=["symbol", "price", "ts"])}) == [
        "price.tick.ts: required field added"
    ]
    removed = _with(tick, required=["symbol"], properties={"symbol": {"type": "string"}})
    assert breaking_changes(TICK_V1, {"price.tick": removed}) == ["price.tick.price: required field removed"]
    retyped = _with(tick, properties={**tick["properties"], "price": {"type": "string"}})
    assert breaking_changes(TICK_V1, {"price.tick": retyped}) == [
        "price.tick.price: type changed from number to string"
    ]
    nested = _with(
        tick,
        properties={
            **tick["properties"],
            "levels": {"type": "array", "items": {"properties": {"qty": {"type": "string"}}}},
        },
    )
    assert breaking_changes(TICK_V1, {"price.tick": nested}) == [
        "price.tick.levels[].qty: type changed from integer to string"
    ]
    assert breaking_changes(TICK_V1, {"other": {"type": "object"}}) == ["price.tick: message type removed"]


# ---------------------------------------------------------------- HTTP API (SQLite + PostgreSQL)
async def test_put_get_and_compatibility(client: httpx.AsyncClient) -> None:
    name = _name()
    assert (await client.get(f"/api/v1/contracts/{name}")).status_code == 404

    r = await client.put(f"/api/v1/contracts/{name}", json={"version": "1.0.0", "schemas": TICK_V1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "1.0.0" and r.json()["revision"] == 1
    got = (await client.get(f"/api/v1/contracts/{name}")).json()
    assert got["schemas"] == TICK_V1 and got["message_types"] == ["price.tick"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", got["updated_at"])

    breaking = {"price.tick": _with(TICK_V1["price.tick"], required=["symbol", "price", "ts"])}
    r = await client.post(f"/api/v1/contracts/{name}/compatibility", json={"schemas": breaking})
    assert r.status_code == 200
    assert r.json() == {
        "service_name": name,
        "compatible": False,
        "breaking_changes": ["price.tick.ts: required field added"],
        "current_version": "1.0.0",
    }
    r = await client.post(f"/api/v1/contracts/{name}/compatibility", json={"schemas": TICK_V1})
    assert r.json()["compatible"] is True

    # a breaking version is refused with the changes listed, and the old one stays
    r = await client.put(f"/api/v1/contracts/{name}", json={"version": "2.0.0", "schemas": breaking})
    assert r.status_code == 409
    assert r.json()["error"]["details"]["breaking_changes"] == ["price.tick.ts: required field added"]
    assert (await client.get(f"/api/v1/contracts/{name}")).json()["version"] == "1.0.0"

    r = await client.put(
        f"/api/v1/contracts/{name}", json={"version": "2.0.0", "schemas": breaking, "force": True}
    )
    assert r.status_code == 200
    assert r.json()["revision"] == 2 and r.json()["breaking_changes"] == [
        "price.tick.ts: required field added"
    ]

    # no version given: the revision number is used
    compatible = {**breaking, "extra.msg": {"type": "object"}}
    r = await client.put(f"/api/v1/contracts/{name}", json={"schemas": compatible})
    assert r.status_code == 200 and r.json()["version"] == "3"

    listed = (await client.get("/api/v1/contracts")).json()
    assert [c["service_name"] for c in listed["contracts"]] == [name]
    assert (await client.delete(f"/api/v1/contracts/{name}")).status_code == 204
    assert (await client.get(f"/api/v1/contracts/{name}")).status_code == 404
    assert (await client.delete(f"/api/v1/contracts/{name}")).status_code == 404


async def test_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    name = _name()
    r = await client.put(f"/api/v1/contracts/{name}", json={"schemas": {"tick": {"type": "no-such-type"}}})
    assert r.status_code == 400
    assert "schemas.tick" in r.json()["error"]["message"]
    r = await client.put(f"/api/v1/contracts/{name}", json={"schemas": {}})
    assert r.status_code == 422 and "schemas" in r.json()["error"]["message"]
    r = await client.put(f"/api/v1/contracts/{name}", json={"version": "1"})
    assert r.status_code == 422 and "schemas" in r.json()["error"]["message"]
    r = await client.put(f"/api/v1/contracts/{name}", json={"schemas": {"tick": "not a schema"}})
    assert r.status_code == 422 and "schemas.tick" in r.json()["error"]["message"]
    r = await client.put("/api/v1/contracts/bad name!", json={"schemas": TICK_V1})
    assert r.status_code == 422 and "service" in r.json()["error"]["message"]
    r = await client.put(
        f"/api/v1/contracts/{name}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


async def test_contract_validated_flag(hub: Hub, client: httpx.AsyncClient) -> None:
    name = _name()

    async def register(port: int) -> str:
        r = await client.post(
            "/api/v1/services/register", json={"name": name, "host": "127.0.0.1", "port": port}
        )
        assert r.status_code == 201
        return str(r.json()["instance_id"])

    async def flags() -> list[bool]:
        body = (await client.get(f"/api/v1/services/{name}")).json()
        return [i["contract_validated"] for i in body["instances"]]

    first = await register(9001)
    assert await flags() == [False]
    assert (await client.put(f"/api/v1/contracts/{name}", json={"schemas": TICK_V1})).status_code == 200
    assert await flags() == [True]
    await register(9002)  # registers after the contract: flagged at once
    assert await flags() == [True, True]
    stored = await hub.registry.get_stored(first)
    assert stored is not None and stored.contract_validated is True

    # the flag survives a hub restart (it is stored), and goes away with the contract
    await hub.registry.stop()
    hub.registry._by_id.clear()
    hub.registry._services.clear()
    await hub.registry.start()
    assert await flags() == [True, True]
    assert (await client.delete(f"/api/v1/contracts/{name}")).status_code == 204
    assert await flags() == [False, False]


async def test_contract_and_instance_flags_are_stored_together(
    hub: Hub, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When flagging the instances fails, the contract is not stored either (one transaction)."""
    name = _name()
    r = await client.post("/api/v1/services/register", json={"name": name, "host": "127.0.0.1", "port": 9010})
    assert r.status_code == 201
    instance_id = r.json()["instance_id"]

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("flag write failed")

    monkeypatch.setattr(registry_repository, "set_contract_validated", broken)
    with pytest.raises(RuntimeError, match="flag write failed"):
        await hub.contracts.put("default", name, schemas=TICK_V1, version="1")
    assert (await client.get(f"/api/v1/contracts/{name}")).status_code == 404
    assert not hub.contracts.has_contract("default", name)
    assert (await client.get(f"/api/v1/services/{name}")).json()["instances"][0][
        "contract_validated"
    ] is False

    # a replacement that fails the same way leaves the current version in place
    monkeypatch.undo()
    await hub.contracts.put("default", name, schemas=TICK_V1, version="1")
    monkeypatch.setattr(registry_repository, "set_contract_validated", broken)
    with pytest.raises(RuntimeError):
        await hub.contracts.put("default", name, schemas=TICK_V1, version="2")
    with pytest.raises(RuntimeError):
        await hub.contracts.delete("default", name)
    got = (await client.get(f"/api/v1/contracts/{name}")).json()
    assert got["version"] == "1" and got["revision"] == 1
    stored = await hub.registry.get_stored(instance_id)
    assert stored is not None and stored.contract_validated is True


async def test_changes_are_emitted_after_commit(hub: Hub, client: httpx.AsyncClient) -> None:
    seen: list[ContractChanged] = []

    async def on_change(event: ContractChanged) -> None:
        seen.append(event)

    hub.events.subscribe(ContractChanged, on_change)
    name = _name()
    assert (
        await client.put(f"/api/v1/contracts/{name}", json={"version": "7", "schemas": TICK_V1})
    ).status_code == 200
    assert (await client.delete(f"/api/v1/contracts/{name}")).status_code == 204
    await hub.events.drain()
    assert [(e.service_name, e.present, e.version) for e in seen] == [(name, True, "7"), (name, False, None)]


async def test_sdk_validates_messages_and_reports_conflicts(hub: Hub) -> None:
    app = create_app(hub.settings, hub=hub)
    transport = httpx.ASGITransport(app=app)
    name = _name()
    producer = CentralHubClient(name, "price-feed", hub_url="http://hub", port=9100, transport=transport)
    consumer = CentralHubClient(_name(), "strategy", hub_url="http://hub", port=9101, transport=transport)
    try:
        await producer.put_contract(TICK_V1, version="1")
        await consumer.validate_message(name, "price.tick", {"symbol": "EURUSD", "price": 1.1})
        with pytest.raises(ContractViolation) as bad:
            await consumer.validate_message(name, "price.tick", {"symbol": "EURUSD", "price": "high"})
        assert bad.value.errors == ["price: 'high' is not of type 'number'"]
        with pytest.raises(ContractViolation) as missing:
            await consumer.validate_message(name, "price.tick", {"symbol": "EURUSD"})
        assert "'price' is a required property" in missing.value.errors[0]
        with pytest.raises(ContractViolation, match="no message type 'order.new'"):
            await consumer.validate_message(name, "order.new", {})

        breaking = {"price.tick": _with(TICK_V1["price.tick"], required=["symbol"])}
        report = await producer.check_contract_compatibility(breaking)
        assert report["compatible"] is False and report["breaking_changes"] == [
            "price.tick.price: no longer required"
        ]
        with pytest.raises(ContractConflict) as conflict:
            await producer.put_contract(breaking, version="2")
        assert conflict.value.breaking_changes == ["price.tick.price: no longer required"]
        await producer.put_contract(breaking, version="2", force=True)
        consumer.contracts.refresh(name)
        await consumer.validate_message(name, "price.tick", {"symbol": "EURUSD"})
    finally:
        await producer.close()
        await consumer.close()

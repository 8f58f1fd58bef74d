"""Canary rollouts through the API: canaries are answered the candidate (GET and /watch, by their
instance id), everyone else and every plain read the promoted version; other writes wait; a
person promotes or aborts; a clean bake promotes, a canary that cannot apply rolls it back with
an alert and an audit entry. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from centralhub.hub import Hub
from centralhub.registry.models import Registration
from tests.support import wait_until

pytestmark = pytest.mark.timeout(120)


def svc() -> str:
    return f"roll-{uuid.uuid4().hex[:8]}"


async def fleet(hub: Hub, service: str, n: int = 3, *, tags: list[list[str]] | None = None) -> list[str]:
    ids = []
    for i in range(n):
        reg = Registration(name=service, host=f"h{i}", port=8000 + i, tags=(tags or [[]] * n)[i])
        inst, _ = await hub.registry.register("default", reg)
        ids.append(inst.id)
    return ids


async def start(client: httpx.AsyncClient, service: str, **body: Any) -> httpx.Response:
    body.setdefault("bake_seconds", 60)
    return await client.post(f"/api/v1/config/{service}/rollouts", json=body)


async def test_only_canaries_get_the_candidate(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    ids = await fleet(hub, name)
    assert (await client.post(f"/api/v1/config/{name}", json={"batch": 100})).status_code == 200
    resp = await start(client, name, patch={"batch": 500}, canary={"instances": [ids[0]]})
    assert resp.status_code == 201, resp.text
    started = resp.json()
    assert started["state"] == "baking" and started["canary"] == [ids[0]]
    assert (started["revision"], started["version"]) == (2, "1.1.0")
    rid = started["rollout_id"]

    canary = await client.get(f"/api/v1/config/{name}", headers={"X-Instance-ID": ids[0]})
    assert canary.json()["config"] == {"batch": 500}
    assert canary.json()["rollout_id"] == rid and canary.json()["revision"] == 2
    by_query = await client.get(f"/api/v1/config/{name}", params={"instance_id": ids[0]})
    assert by_query.json()["config"] == {"batch": 500}
    other = await client.get(f"/api/v1/config/{name}", headers={"X-Instance-ID": ids[1]})
    assert other.json()["config"] == {"batch": 100} and "rollout_id" not in other.json()
    plain = await client.get(f"/api/v1/config/{name}")
    assert (plain.json()["config"], plain.json()["revision"]) == ({"batch": 100}, 1)

    # /watch: the canary (on revision 1) is answered at once; another instance waits
    watch = f"/api/v1/config/{name}/watch"
    got = await client.get(watch, params={"revision": 1, "timeout": 5, "instance_id": ids[0]})
    assert got.status_code == 200 and got.json()["rollout_id"] == rid
    held = await client.get(watch, params={"revision": 1, "timeout": 0.5, "instance_id": ids[2]})
    assert held.status_code == 304
    # the canary that runs the candidate waits too
    same = await client.get(
        watch, params={"revision": 2, "rollout": rid, "timeout": 0.5, "instance_id": ids[0]}
    )
    assert same.status_code == 304

    view = (await client.get(f"/api/v1/config/{name}/rollout")).json()
    assert view["state"] == "baking" and view["remaining_seconds"] > 50
    assert [c["instance_id"] for c in view["canaries"]] == [ids[0]]


async def test_writes_wait_while_a_rollout_bakes(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    ids = await fleet(hub, name)
    await client.post(f"/api/v1/config/{name}", json={"batch": 100})
    assert (await start(client, name, config={"batch": 2}, canary={"percent": 10})).status_code == 201
    second = await start(client, name, config={"batch": 3}, canary={"instances": [ids[1]]})
    assert second.status_code == 409 and "promote or abort" in second.text
    write = await client.post(f"/api/v1/config/{name}", json={"batch": 4})
    assert write.status_code == 409
    assert (await client.get(f"/api/v1/config/{name}")).json()["config"] == {"batch": 100}
    aborted = await client.post(f"/api/v1/config/{name}/rollout/abort")
    assert aborted.status_code == 200 and aborted.json()["state"] == "aborted"
    assert (await client.post(f"/api/v1/config/{name}", json={"batch": 4})).status_code == 200


async def test_a_watching_canary_is_woken_by_the_rollout_and_by_its_end(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    name = svc()
    ids = await fleet(hub, name)
    await client.post(f"/api/v1/config/{name}", json={"batch": 100})
    watch = f"/api/v1/config/{name}/watch"
    waiting = asyncio.create_task(
        client.get(watch, params={"revision": 1, "timeout": 20, "instance_id": ids[0]})
    )
    await asyncio.sleep(0.3)
    rid = (await start(client, name, config={"batch": 7}, canary={"instances": [ids[0]]})).json()[
        "rollout_id"
    ]
    got = await asyncio.wait_for(waiting, 10)
    assert got.json()["config"] == {"batch": 7} and got.json()["rollout_id"] == rid

    back = asyncio.create_task(
        client.get(watch, params={"revision": 2, "rollout": rid, "timeout": 20, "instance_id": ids[0]})
    )
    await asyncio.sleep(0.3)
    assert not back.done()
    await client.post(f"/api/v1/config/{name}/rollout/abort")
    returned = await asyncio.wait_for(back, 10)
    assert returned.status_code == 200
    assert (returned.json()["config"], returned.json()["revision"]) == ({"batch": 100}, 1)
    assert "rollout_id" not in returned.json()


async def test_promote_by_hand_stores_the_candidate_as_the_next_version(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    name = svc()
    ids = await fleet(hub, name)
    await client.post(f"/api/v1/config/{name}", json={"batch": 100, "keep": True})
    rid = (await start(client, name, patch={"batch": 9}, canary={"instances": [ids[1]]})).json()["rollout_id"]
    promoted = await client.post(f"/api/v1/config/{name}/rollout/promote", headers={"X-Actor": "ops"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["state"] == "promoted" and promoted.json()["promoted_revision"] == 2
    plain = (await client.get(f"/api/v1/config/{name}")).json()
    assert (plain["config"], plain["revision"], plain["source"]) == ({"batch": 9, "keep": True}, 2, "rollout")
    # the canary learns it is on the promoted line now (same revision, no marker)
    watch = f"/api/v1/config/{name}/watch"
    moved = await client.get(
        watch, params={"revision": 2, "rollout": rid, "timeout": 5, "instance_id": ids[1]}
    )
    assert moved.status_code == 200 and "rollout_id" not in moved.json()
    again = await client.post(f"/api/v1/config/{name}/rollout/promote")
    assert again.status_code == 409 and "promoted" in again.text


async def test_a_clean_bake_promotes_and_a_failed_apply_rolls_back(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    hub.config_rollouts.tick = 0.1
    name = svc()
    ids = await fleet(hub, name)
    await client.post(f"/api/v1/config/{name}", json={"batch": 100})
    await start(
        client,
        name,
        config={"batch": 1},
        canary={"instances": [ids[0]]},
        bake_seconds=0.5,
        canary_check_seconds=0.1,
    )
    await hub.config_drift.report("default", name, ids[0], revision=2, ok=True, error=None)
    done = await wait_until(
        lambda: _state(client, name, "promoted"), timeout=15, what="promotion after the bake"
    )
    assert "cleanly" in done["reason"]
    assert (await client.get(f"/api/v1/config/{name}")).json()["config"] == {"batch": 1}

    resp = await start(
        client,
        name,
        config={"batch": 2},
        canary={"instances": [ids[1]]},
        bake_seconds=30,
        canary_check_seconds=0.1,
    )
    revision = resp.json()["revision"]
    await hub.config_drift.report(
        "default", name, ids[1], revision=revision, ok=False, error="ValueError: batch 2 refused"
    )
    rolled = await wait_until(lambda: _state(client, name, "rolled_back"), timeout=15, what="rollback")
    assert "failed to apply" in rolled["reason"] and "batch 2 refused" in rolled["reason"]
    assert (await client.get(f"/api/v1/config/{name}")).json()["config"] == {"batch": 1}

    async def alerted() -> bool:
        alerts = (await client.get("/api/v1/alerts", params={"target": name})).json()["alerts"]
        return any(a["event"] == "rollout_rolled_back" for a in alerts)

    await wait_until(alerted, timeout=10, what="the rollback alert")
    audit = (await client.get("/api/v1/audit", params={"limit": 100})).json()
    actions = {e["action"] for e in audit.get("entries", audit.get("items", []))}
    assert {"config.rollout.start", "config.rollout.rolled_back", "config.rollout.promote"} <= actions


async def _state(client: httpx.AsyncClient, name: str, state: str) -> dict[str, Any] | None:
    view = (await client.get(f"/api/v1/config/{name}/rollout")).json()
    return view if view.get("state") == state else None


async def test_canaries_by_percent_and_tags(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    ids = await fleet(hub, name, 4, tags=[[], ["canary"], [], ["canary", "eu"]])
    await client.post(f"/api/v1/config/{name}", json={"a": 1})
    by_tags = await start(client, name, config={"a": 2}, canary={"tags": ["canary"]})
    assert by_tags.json()["canary"] == [ids[1], ids[3]]
    await client.post(f"/api/v1/config/{name}/rollout/abort")
    by_share = await start(client, name, config={"a": 2}, canary={"percent": 50})
    assert by_share.json()["canary"] == ids[:2]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"config": {"a": 2}}, 400, "canary"),
        ({"config": {"a": 2}, "patch": {"a": 3}, "canary": {"percent": 10}}, 400, "exactly one"),
        ({"config": {"a": 2}, "canary": {"percent": 0}}, 400, "canary.percent"),
        ({"config": {"a": 2}, "canary": {"instances": ["nope"]}}, 400, "'nope'"),
        ({"config": {"a": 2}, "canary": {"tags": ["x"], "percent": 5}}, 400, "exactly one"),
        ({"config": {"a": 1}, "canary": {"percent": 10}}, 400, "nothing to roll out"),
        ({"config": {"a": 2}, "canary": {"percent": 10}, "bake_seconds": -1}, 400, "bake_seconds"),
        ({"config": {"a": 2}, "canary": {"percent": 10}, "speed": 1}, 400, "speed"),
        ({"config": {"a": "text"}, "canary": {"percent": 10}}, 422, "a"),
        ({"rollback_to": "9.9.9", "canary": {"percent": 10}}, 404, "9.9.9"),
    ],
)
async def test_bad_requests_are_refused_by_name(
    hub: Hub, client: httpx.AsyncClient, body: dict[str, Any], status: int, says: str
) -> None:
    name = svc()
    await fleet(hub, name)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert (await client.put(f"/api/v1/config/{name}/schema", json=schema)).status_code == 200
    await client.post(f"/api/v1/config/{name}", json={"a": 1})
    resp = await client.post(f"/api/v1/config/{name}/rollouts", json=body)
    assert resp.status_code == status, resp.text
    assert says in resp.text
    assert (await client.get(f"/api/v1/config/{name}/rollout")).status_code == 404


async def test_a_service_without_configuration_cannot_roll_out(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    await fleet(hub, name)
    resp = await start(client, name, config={"a": 1}, canary={"percent": 10})
    assert resp.status_code == 404 and "store a first one" in resp.text


async def test_rollouts_follow_scopes_and_tenants(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    """Starting, promoting and aborting need config:write on the service; reading the rollout
    config:read; a rollout of one tenant is invisible to, and does not hold, another's writes."""
    from tests.auth_support import bearer, make_key

    name = svc()
    admin = bearer(await make_key(auth_hub, "admin"))
    reader = bearer(await make_key(auth_hub, "config:read", services=[name]))
    writer = bearer(await make_key(auth_hub, "config:write", "config:read", services=[name]))
    other_writer = bearer(await make_key(auth_hub, "config:write", services=["another"]))
    ids = await fleet(auth_hub, name)
    body = {"config": {"a": 2}, "canary": {"instances": [ids[0]]}, "bake_seconds": 60}
    url = f"/api/v1/config/{name}"
    assert (await auth_client.post(url, json={"a": 1}, headers=admin)).status_code == 200
    assert (await auth_client.post(f"{url}/rollouts", json=body)).status_code == 401
    assert (await auth_client.post(f"{url}/rollouts", json=body, headers=reader)).status_code == 403
    assert (await auth_client.post(f"{url}/rollouts", json=body, headers=other_writer)).status_code == 403
    started = await auth_client.post(f"{url}/rollouts", json=body, headers=writer)
    assert started.status_code == 201, started.text
    assert started.json()["author"] != "anonymous"
    assert (await auth_client.get(f"{url}/rollout", headers=reader)).json()["state"] == "baking"
    assert (await auth_client.post(f"{url}/rollout/abort", headers=reader)).status_code == 403
    assert (await auth_client.post(f"{url}/rollout/promote", headers=other_writer)).status_code == 403

    # another tenant: no rollout there, and its writes are not held
    elsewhere = {**admin, "X-Tenant-ID": "elsewhere"}
    assert (await auth_client.get(f"{url}/rollout", headers=elsewhere)).status_code == 404
    assert (await auth_client.post(url, json={"a": 9}, headers=elsewhere)).status_code == 200
    assert (await auth_client.post(f"{url}/rollout/abort", headers=writer)).json()["state"] == "aborted"

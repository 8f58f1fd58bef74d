"""``GET /api/v1/events`` against a real hub process, read with httpx-sse (a maintained SSE
client): config and registry changes filtered by service and kind, resuming with Last-Event-ID,
a reset when resuming is not possible, scopes, the stream ending when the hub stops, and the
Node.js example following a configuration."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.ops._util import require_tool

pytestmark = pytest.mark.timeout(120)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node-events" / "follow-config.mjs"


async def _collect(
    url: str, n: int, params: dict[str, str], headers: dict[str, str] | None = None
) -> list[Any]:
    """The first ``n`` events (the SSE client's objects) of a stream."""
    got: list[Any] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, read=30)) as client,
        aconnect_sse(client, "GET", f"{url}/api/v1/events", params=params, headers=headers or {}) as sse,
    ):
        async for event in sse.aiter_sse():
            got.append(event)
            if len(got) >= n:
                break
    return got


async def _write(url: str, service: str, doc: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(f"{url}/api/v1/config/{service}", json=doc)).status_code == 200


async def test_changes_stream_by_service_and_kind_and_resume(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    name, other = f"gw-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    listener = asyncio.create_task(_collect(hub.url, 3, {"service": name}))
    await asyncio.sleep(0.5)  # subscribed
    await _write(hub.url, other, {"x": 1})  # another service: not sent
    await _write(hub.url, name, {"batch": 1})
    async with httpx.AsyncClient(timeout=10) as client:
        made = await client.post(
            f"{hub.url}/api/v1/services/register", json={"name": name, "host": "10.0.0.1", "port": 81}
        )
        assert made.status_code == 201
    await _write(hub.url, name, {"batch": 2})
    events = await asyncio.wait_for(listener, 20)
    kinds = [(e.event, json.loads(e.data)["type"]) for e in events]
    assert kinds == [("config", "updated"), ("registry", "upserted"), ("config", "updated")], kinds
    first, last = json.loads(events[0].data), json.loads(events[2].data)
    assert (first["service"], first["config"], first["revision"]) == (name, {"batch": 1}, 1)
    assert last["config"] == {"batch": 2} and all(e.id for e in events)

    # resume after the first: the two missed ones come again, in order
    resumed = await _collect(hub.url, 2, {"service": name}, headers={"Last-Event-ID": events[0].id})
    assert [e.id for e in resumed] == [events[1].id, events[2].id]
    # only config, by the query parameter a browser EventSource can set on its first connect
    only = await _collect(hub.url, 1, {"service": name, "kind": "config", "last_event_id": events[0].id})
    assert only[0].id == events[2].id
    # an id this hub cannot resume from: one reset event, then the live stream
    reset = await _collect(hub.url, 1, {"service": name}, headers={"Last-Event-ID": "feedface-3"})
    assert reset[0].event == "reset" and "read the state again" in reset[0].data


async def test_a_global_change_reaches_every_service_filter(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    name, other = f"gw-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    listener = asyncio.create_task(_collect(hub.url, 2, {"service": name, "kind": "config"}))
    await asyncio.sleep(0.5)  # subscribed
    await _write(hub.url, other, {"x": 1})  # another service: not sent
    async with httpx.AsyncClient(timeout=10) as client:
        put = await client.put(f"{hub.url}/api/v1/config/_global", json={"region": "eu"})
        assert put.status_code == 200
    await _write(hub.url, name, {"batch": 1})
    events = [json.loads(e.data) for e in await asyncio.wait_for(listener, 20)]
    assert [e["service"] for e in events] == ["_global", name]
    assert events[0]["config"] == {"region": "eu"} and events[1]["config"] == {"region": "eu", "batch": 1}


async def test_bad_filters_and_the_stream_ends_when_the_hub_stops(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    async with httpx.AsyncClient(timeout=10) as client:
        bad = await client.get(f"{hub.url}/api/v1/events", params={"kind": "gossip"})
        assert bad.status_code == 400 and "'gossip' is not one of config, registry, alerts" in bad.text
    done = asyncio.create_task(_collect(hub.url, 1000, {}))
    await asyncio.sleep(0.5)
    assert hub.proc is not None
    hub.proc.terminate()  # SIGTERM: the open stream ends, the hub exits
    await asyncio.wait_for(done, 10)
    assert await asyncio.to_thread(hub.proc.wait, 15) == 0


async def test_each_kind_needs_its_scope(hub_process_factory: Any) -> None:
    from tests.key_cli import create_key

    hub = hub_process_factory(start=False, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET="s" * 32)
    reader = create_key(hub.env["DATABASE_URL"], "reader", "registry:read")
    admin = create_key(hub.env["DATABASE_URL"], "root", "admin")
    hub.start()
    headers = {"Authorization": f"Bearer {reader}"}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{hub.url}/api/v1/events")).status_code == 401
        refused = await client.get(f"{hub.url}/api/v1/events", params={"kind": "config"}, headers=headers)
        assert refused.status_code == 403 and "config:read" in refused.text
        alerts = await client.get(f"{hub.url}/api/v1/events", params={"kind": "alerts"}, headers=headers)
        assert alerts.status_code == 403
    # without a kind: the kinds the key may read (registry only)
    name = f"scoped-{uuid.uuid4().hex[:6]}"
    listener = asyncio.create_task(_collect(hub.url, 1, {"service": name}, headers=headers))
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {admin}"}) as client:
        await client.post(f"{hub.url}/api/v1/config/{name}", json={"a": 1})
        await client.post(
            f"{hub.url}/api/v1/services/register", json={"name": name, "host": "10.0.0.2", "port": 82}
        )
    [event] = await asyncio.wait_for(listener, 20)
    assert event.event == "registry"


def test_the_node_example_follows_a_configuration(hub_process_factory: Any) -> None:
    node = require_tool("/usr/bin/node", "nodejs")
    hub = hub_process_factory()
    name = f"gateway-{uuid.uuid4().hex[:6]}"
    httpx.post(f"{hub.url}/api/v1/config/{name}", json={"routes": 1}, timeout=10)
    env = {**os.environ, "HUB_URL": hub.url, "SERVICE": name, "COUNT": "3"}
    proc = subprocess.Popen(
        [node, str(EXAMPLE)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[dict[str, Any]] = []
    try:
        assert proc.stdout is not None
        for _ in range(2):  # the first read, then "connected"
            lines.append(json.loads(proc.stdout.readline()))
        assert lines[0]["config"] == {"routes": 1} and lines[1]["connected"] is True
        for n in (2, 3):
            httpx.post(f"{hub.url}/api/v1/config/{name}", json={"routes": n}, timeout=10)
        # the global document changes what the service runs too: the example reads it again
        httpx.put(f"{hub.url}/api/v1/config/_global", json={"region": "eu"}, timeout=10)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    changes = [json.loads(line) for line in out.splitlines() if line.strip()]
    expected = [{"routes": 2}, {"routes": 3}, {"region": "eu", "routes": 3}]
    assert [c["config"] for c in changes] == expected, err
    assert [c["revision"] for c in changes] == [2, 3, 3] and changes[2]["via"] == "read"
    assert proc.returncode == 0

"""Blocking queries held by one hub replica, woken by a change made through another (one
PostgreSQL database, one NATS, a cluster name of the test's own), driven by py-consul."""

from __future__ import annotations

import time
import uuid
from typing import Any

import consul
import httpx
import pytest

from tests.conftest import NATS_URL
from tests.consul_api.test_consul_api import Blocked

pytestmark = pytest.mark.timeout(120)


def test_a_change_on_one_replica_wakes_a_query_held_by_another(
    hub_process_factory: Any, fresh_pg: str
) -> None:
    cluster = f"consul{uuid.uuid4().hex[:8]}"
    a = hub_process_factory(database_url=fresh_pg, NATS_URL=NATS_URL, CENTRAL_HUB_CLUSTER=cluster)
    b = hub_process_factory(database_url=fresh_pg, NATS_URL=NATS_URL, CENTRAL_HUB_CLUSTER=cluster)
    for hub in (a, b):
        info = httpx.get(f"{hub.url}/api/v1/info", timeout=10).json()
        assert info["nats"]["connected"], info
    ca, cb = consul.Consul(host="127.0.0.1", port=a.port), consul.Consul(host="127.0.0.1", port=b.port)
    name = f"quotes-{uuid.uuid4().hex[:6]}"
    assert ca.agent.service.register(name, service_id=f"{name}-1", address="10.0.0.1", port=80)

    def seen_on_b() -> Any:
        return cb.health.service(name)[1]

    deadline = time.monotonic() + 10
    while not seen_on_b():
        assert time.monotonic() < deadline, "B never saw A's registration"
        time.sleep(0.1)
    index, _ = cb.health.service(name)
    held = Blocked(lambda: cb.health.service(name, index=index, wait="60s"))
    assert not held.done(timeout=1.0)
    changed = time.monotonic()
    assert ca.agent.service.register(name, service_id=f"{name}-2", address="10.0.0.2", port=80)
    assert held.done(timeout=15)
    assert held.returned_at is not None and held.returned_at - changed < 5
    assert len(held.result[1]) == 2

    key = f"replicated/{uuid.uuid4().hex[:6]}"
    assert ca.kv.put(key, "1")
    kv_index, item = cb.kv.get(key)
    assert item["Value"] == b"1"
    kv_held = Blocked(lambda: cb.kv.get(key, index=kv_index, wait="60s"))
    assert not kv_held.done(timeout=1.0)
    assert ca.kv.put(key, "2", cas=item["ModifyIndex"])
    assert kv_held.done(timeout=15)
    assert kv_held.result[1]["Value"] == b"2"

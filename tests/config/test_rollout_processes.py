"""Canary rollouts with real processes: a hub and three BaseService instances of one service.

A value that makes its canary unhealthy is rolled back within the bake and the other two never
run it; a value one instance cannot apply is rolled back and its failure reported; a good value
is promoted to all three after the bake; and a rollout goes on when the hub is killed and
started again in the middle of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.support import wait_until_sync

pytestmark = pytest.mark.timeout(240)
APP = Path(__file__).resolve().parent.parent / "sdk" / "service_app.py"


class Fleet:
    def __init__(self, hub: Any, name: str, tmp_path: Path) -> None:
        self.hub, self.name, self.tmp = hub, name, tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ids: list[str] = []
        self.ports: list[int] = []
        self.bus = "embedded"

    def start(self) -> None:
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("SERVICE_", "NATS_URL", "CENTRAL_HUB"))
        }
        for k in range(3):
            port = free_port()
            env = {
                **base,
                "CENTRAL_HUB_URL": self.hub.url,
                "SERVICE_PORT": str(port),
                "PROBE_NAME": self.name,
                "LIFECYCLE_FILE": str(self.tmp / f"life-{k}.txt"),
                # instance 2 cannot take this greeting: its callback raises
                **({"PROBE_REFUSE": "bonjour"} if k == 2 else {}),
            }
            with (self.tmp / f"svc-{k}.log").open("ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, str(APP)], env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
            self.ports.append(port)
        for port in self.ports:
            doc = wait_until_sync(
                lambda p=port: _health(p), timeout=40, what=f"the instance on {port} registered"
            )
            self.ids.append(doc["hub"]["instance_id"])

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def greetings(self, k: int) -> list[str]:
        path = self.tmp / f"life-{k}.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line.split("greeting=")[1].split()[0] for line in lines if "greeting=" in line]

    def greets(self) -> list[str]:
        return [httpx.get(f"http://127.0.0.1:{p}/greet", timeout=5).json()["greeting"] for p in self.ports]

    def set(self, doc: dict[str, Any]) -> None:
        resp = httpx.post(f"{self.hub.url}/api/v1/config/{self.name}", json=doc, timeout=10)
        assert resp.status_code == 200, resp.text

    def roll(self, **body: Any) -> dict[str, Any]:
        resp = httpx.post(f"{self.hub.url}/api/v1/config/{self.name}/rollouts", json=body, timeout=10)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def ended(self, state: str, timeout: float) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            try:
                view = httpx.get(f"{self.hub.url}/api/v1/config/{self.name}/rollout", timeout=5).json()
            except httpx.HTTPError:
                return None  # the hub is restarting
            return view if view.get("state") == state else None

        return dict(wait_until_sync(seen, timeout=timeout, every=0.2, what=f"the rollout {state}"))


def _health(port: int) -> dict[str, Any] | None:
    try:
        doc = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    return doc if doc.get("hub", {}).get("instance_id") else None


@pytest.fixture(params=["embedded", "nats"])
def fleet(request: pytest.FixtureRequest, hub_process_factory: Any, tmp_path: Path) -> Iterator[Fleet]:
    """The hub on its embedded bus (the services follow /watch), or on the real NATS (the
    services follow their subjects; a cluster name of the test's own)."""
    env = {"CENTRAL_HUB_CANARY_CHECK_SECONDS": "0.5", "CENTRAL_HUB_CONFIG_ROLLOUT_LEASE_SECONDS": "3"}
    if request.param == "nats":
        env |= {"NATS_URL": "nats://127.0.0.1:4222", "CENTRAL_HUB_CLUSTER": f"t{uuid.uuid4().hex[:8]}"}
    hub = hub_process_factory(**env)
    group = Fleet(hub, f"canary-{uuid.uuid4().hex[:6]}", tmp_path)
    group.bus = request.param
    try:
        group.start()
        group.set({"greeting": "hi"})
        wait_until_sync(
            lambda: group.greets() == ["hi"] * 3, timeout=30, what="every instance on the first version"
        )
        yield group
    finally:
        group.stop()


def test_bad_canaries_are_rolled_back_and_a_good_value_is_promoted(fleet: Fleet) -> None:
    # a value that makes its canary unhealthy: rolled back well within the bake
    started = time.monotonic()
    fleet.roll(
        patch={"greeting": "poison", "healthy": False}, canary={"instances": [fleet.ids[0]]}, bake_seconds=60
    )
    rolled = fleet.ended("rolled_back", timeout=30)
    assert time.monotonic() - started < 30
    assert fleet.ids[0] in rolled["reason"] and ("health" in rolled["reason"] or "turned" in rolled["reason"])
    assert "poison" in fleet.greetings(0)
    assert "poison" not in fleet.greetings(1) and "poison" not in fleet.greetings(2)
    if fleet.bus == "nats":  # the candidate reached the canary on its own subject
        assert "(revision 2, via nats)" in (fleet.tmp / "svc-0.log").read_text()
    wait_until_sync(
        lambda: fleet.greets() == ["hi"] * 3, timeout=20, what="the canary back on the promoted value"
    )
    plain = httpx.get(f"{fleet.hub.url}/api/v1/config/{fleet.name}", timeout=5).json()
    assert plain["config"] == {"greeting": "hi"} and plain["revision"] == 1

    # a value one instance cannot apply: its failure is reported, the rollout rolled back
    fleet.roll(config={"greeting": "bonjour"}, canary={"instances": [fleet.ids[2]]}, bake_seconds=60)
    rolled = fleet.ended("rolled_back", timeout=30)
    assert "failed to apply" in rolled["reason"] and "cannot greet with 'bonjour'" in rolled["reason"]
    assert "bonjour" not in fleet.greetings(0) and "bonjour" not in fleet.greetings(1)
    wait_until_sync(lambda: fleet.greets() == ["hi"] * 3, timeout=20, what="the refusing canary back")

    # a good value: promoted to every instance once the bake passed cleanly
    started = time.monotonic()
    fleet.roll(patch={"greeting": "hola"}, canary={"percent": 34}, bake_seconds=3)
    promoted = fleet.ended("promoted", timeout=40)
    assert time.monotonic() - started >= 3
    assert promoted["canaries"][0]["runs_candidate"] is True
    wait_until_sync(
        lambda: fleet.greets() == ["hola"] * 3, timeout=20, what="every instance on the promoted value"
    )
    plain = httpx.get(f"{fleet.hub.url}/api/v1/config/{fleet.name}", timeout=5).json()
    assert plain["config"] == {"greeting": "hola"} and plain["version"] == promoted["version"]


def test_a_rollout_goes_on_when_the_hub_restarts(fleet: Fleet) -> None:
    hub = fleet.hub
    # killed right after a bad rollout started: the restarted hub still rolls it back
    fleet.roll(
        patch={"greeting": "poison", "healthy": False}, canary={"instances": [fleet.ids[1]]}, bake_seconds=60
    )
    hub.stop(sig=9)
    hub.start()
    rolled = fleet.ended("rolled_back", timeout=45)
    assert fleet.ids[1] in rolled["reason"]
    assert "poison" not in fleet.greetings(0) and "poison" not in fleet.greetings(2)
    wait_until_sync(
        lambda: fleet.greets() == ["hi"] * 3, timeout=30, what="the canary back after the restart"
    )

    # killed in the middle of a good bake: the restarted hub promotes it
    fleet.roll(patch={"greeting": "hola"}, canary={"instances": [fleet.ids[0]]}, bake_seconds=6)
    wait_until_sync(lambda: fleet.greets()[0] == "hola", timeout=20, what="the canary on the candidate")
    hub.stop(sig=9)
    hub.start()
    fleet.ended("promoted", timeout=45)
    wait_until_sync(
        lambda: fleet.greets() == ["hola"] * 3, timeout=30, what="every instance on the promoted value"
    )


def test_another_replica_carries_on_a_rollout_whose_replica_died(
    hub_process_factory: Any, fresh_pg: str
) -> None:
    """Two hub replicas on one PostgreSQL and NATS: the one that started a rollout is killed
    (-9) while it bakes; the other adopts it once the lease lapses and promotes it."""
    env = {
        "CENTRAL_HUB_CANARY_CHECK_SECONDS": "0.5",
        "CENTRAL_HUB_CONFIG_ROLLOUT_LEASE_SECONDS": "2",
        "NATS_URL": "nats://127.0.0.1:4222",
        "CENTRAL_HUB_CLUSTER": f"t{uuid.uuid4().hex[:8]}",
    }
    first = hub_process_factory(database_url=fresh_pg, **env)
    second = hub_process_factory(database_url=fresh_pg, **env)
    name = f"carry-{uuid.uuid4().hex[:6]}"
    ids = [
        httpx.post(
            f"{first.url}/api/v1/services/register",
            json={"name": name, "host": "10.0.0.1", "port": p},
            timeout=10,
        ).json()["instance_id"]
        for p in (81, 82)
    ]
    assert httpx.post(f"{first.url}/api/v1/config/{name}", json={"a": 1}, timeout=10).status_code == 200
    body = {"config": {"a": 2}, "canary": {"instances": [ids[0]]}, "bake_seconds": 4}
    started = httpx.post(f"{first.url}/api/v1/config/{name}/rollouts", json=body, timeout=10).json()
    # the other replica answers the canary its candidate and the rest the promoted version
    canary = wait_until_sync(
        lambda: (
            httpx.get(f"{second.url}/api/v1/config/{name}", headers={"X-Instance-ID": ids[0]}, timeout=5)
            .json()
            .get("rollout_id")
        ),
        timeout=10,
        what="the second replica knows the rollout",
    )
    assert canary == started["rollout_id"]
    other = httpx.get(f"{second.url}/api/v1/config/{name}", headers={"X-Instance-ID": ids[1]}, timeout=5)
    assert other.json()["config"] == {"a": 1}
    first.stop(sig=9)

    def promoted() -> dict[str, Any] | None:
        view = httpx.get(f"{second.url}/api/v1/config/{name}/rollout", timeout=5).json()
        return view if view["state"] == "promoted" else None

    view = wait_until_sync(promoted, timeout=30, what="the surviving replica promoted the rollout")
    assert view["owner"] != started["owner"]
    plain = httpx.get(f"{second.url}/api/v1/config/{name}", timeout=5).json()
    assert (plain["config"], plain["revision"]) == ({"a": 2}, 2)
    assert second.log_path is not None and "carrying on rollout" in second.log_path.read_text()

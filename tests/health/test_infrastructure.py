"""The infrastructure monitor against the real PostgreSQL, Redis and NATS here, and a dead port."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from centralhub.core.errors import InvalidInput
from centralhub.health.infrastructure import parse_infrastructure
from tests.support import wait_until

PG = "postgresql://postgres@127.0.0.1:5432/test"


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def infra_doc(*, dead_critical: bool) -> dict[str, Any]:
    fast = {"timeout": 3, "interval": 0.5}
    return {
        "databases": {
            "postgresql": {
                "type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "critical": True,
                "health_check": {"method": "postgres", "url": PG, **fast},
            },
            "dragonflydb": {"type": "redis", "host": "127.0.0.1", "port": 6379, "health_check": fast},
        },
        "messaging": {
            "nats-1": {"host": "127.0.0.1", "port": 4222, "critical": True, "health_check": fast},
            "kafka": {
                "type": "kafka",
                "host": "127.0.0.1",
                "port": dead_port(),
                "critical": dead_critical,
                "health_check": {"method": "tcp", **fast},
            },
        },
        "service_dependencies": {"data-bridge": {"requires": ["kafka", "postgresql"]}},
        "alerts": {"channels": ["log"]},
    }


async def test_real_servers_healthy_dead_port_degrades(
    infra_hub_factory: Any, pg_database: str, redis_url: str, nats_url: str
) -> None:
    hub, client = await infra_hub_factory(infra_doc(dead_critical=False))
    status = await wait_until(
        lambda: hub.infrastructure.status()["unknown"] == 0 and hub.infrastructure.status()
    )
    comps = status["components"]
    for name in ("postgresql", "dragonflydb", "nats-1"):
        assert comps[name]["status"] == "healthy", comps[name]
        assert comps[name]["response_time_ms"] > 0
    assert comps["kafka"]["status"] == "unhealthy"
    assert "Error" in comps["kafka"]["error"]
    assert comps["kafka"]["dependents"] == ["data-bridge"]
    assert comps["postgresql"]["method"] == "postgres"
    assert comps["dragonflydb"]["method"] == "redis_ping"
    assert comps["nats-1"]["method"] == "nats" and comps["nats-1"]["type"] == "nats"

    api = (await client.get("/api/v1/infrastructure/status")).json()
    assert api["status"] == "degraded" and api["total"] == 4 and api["healthy"] == 3
    one = await client.get("/api/v1/infrastructure/postgresql", params={"refresh": "true"})
    assert one.status_code == 200 and one.json()["status"] == "healthy"
    assert (await client.get("/api/v1/infrastructure/nope")).status_code == 404

    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["infrastructure"] == "degraded"

    alerts = await wait_until(
        lambda: hub.alerts.search(target="kafka"),
    )
    assert alerts[0].kind == "infrastructure" and alerts[0].event == "down"
    assert alerts[0].severity == "warning"
    assert alerts[0].dependents == ["data-bridge"]


async def test_critical_component_down_makes_hub_unhealthy(infra_hub_factory: Any) -> None:
    hub, client = await infra_hub_factory(infra_doc(dead_critical=True))
    await wait_until(lambda: hub.infrastructure.health["kafka"].status == "unhealthy")
    health = await client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    alerts = await wait_until(lambda: hub.alerts.search(target="kafka"))
    assert alerts[0].severity == "critical"


async def test_no_infrastructure_file_means_no_components(hub: Any, client: Any) -> None:
    assert (await client.get("/api/v1/infrastructure/status")).json()["total"] == 0
    assert "infrastructure" not in (await client.get("/health")).json()["checks"]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"databases": {"pg": {"type": "oracle", "host": "h", "port": 1}}}, "databases.pg.type"),
        ({"databases": {"postgresql": {"host": "h", "port": 0}}}, "databases.postgresql.port"),
        ({"messaging": {"nats": {"host": "h", "port": 4222, "health_check": {"method": "ping"}}}}, "method"),
        ({"search": {"weaviate": {"port": 8080}}}, "search.weaviate.host"),
        ({"databases": {"redis": {"host": "h", "port": 1, "health_check": {"interval": -1}}}}, "interval"),
        ({"service_dependencies": {"a": {"requires": "b"}}}, "service_dependencies.a.requires"),
    ],
)
def test_bad_infrastructure_file_names_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_infrastructure(doc)
    assert field in err.value.message


def test_example_file_parses() -> None:
    from pathlib import Path

    from centralhub.health.infrastructure import load_infrastructure_file

    f = load_infrastructure_file(Path(__file__).parents[2] / "config" / "infrastructure.yaml")
    assert {"postgresql", "dragonflydb", "nats-1"} <= set(f.components)
    assert f.components["dragonflydb"].method == "redis_ping"

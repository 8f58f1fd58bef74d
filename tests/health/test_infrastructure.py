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


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"databases": {"pg": {"type": "postgres", "host": "h", "port": "nope"}}},
            "databases.pg.port: Input should be a valid integer",
        ),
        (
            {"databases": {"pg": {"type": "postgres", "host": "h", "port": 70000}}},
            "databases.pg.port: Input should be less than or equal to 65535",
        ),
        (
            {"messaging": {"nats": {"host": "h", "port": 4222, "health_check": {"timeout": "soon"}}}},
            "messaging.nats.health_check.timeout: Input should be a valid number",
        ),
        (
            {"databases": {"pg": {"type": "postgres", "host": "h", "port": 1, "dependencies": "nats"}}},
            "databases.pg.dependencies: Input should be a valid list",
        ),
        ({"databases": {"pg": "postgres"}}, "databases.pg: Input should be a valid dictionary"),
        ({"service_dependencies": {"a": ["b", 3]}}, "service_dependencies.a.requires[1]: Input should be"),
        (
            {"alerts": {"rules": [{"severity": "loud"}]}},
            "alerts.rules[0].severity: Input should be 'info', 'warning' or 'critical'",
        ),
        (
            {"alerts": {"rate_limit": {"window_seconds": 0}}},
            "alerts.rate_limit.window_seconds: Input should be",
        ),
        (
            {
                "databases": {"pg": {"type": "postgres", "host": "h", "port": 1}},
                "messaging": {"pg": {"type": "nats", "host": "h", "port": 2}},
            },
            "messaging.pg: the name is used twice",
        ),
        ([1, 2], "(top level): Input should be a valid dictionary"),
    ],
)
def test_pydantic_errors_name_the_path(doc: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_infrastructure(doc, source="infra.yaml")
    assert err.value.message.startswith(f"infra.yaml: {message}"), err.value.message
    assert "\n" not in err.value.message and "instance of" not in err.value.message


def test_shorthands_and_defaults() -> None:
    f = parse_infrastructure(
        {
            "databases": {"timescale-main": {"host": "db", "port": 5433, "health_check": None}},
            "search": None,
            "service_dependencies": {"reports": ["timescale-main"], "api": {"requires": ["reports"]}},
        }
    )
    pg = f.components["timescale-main"]
    assert (pg.type, pg.method, pg.timeout, pg.interval) == ("postgres", "postgres", 5.0, 30.0)
    assert pg.url == "postgresql://postgres@db:5433/postgres"
    assert f.service_dependencies == {"reports": ["timescale-main"], "api": ["reports"]}


def test_serve_with_a_bad_file_prints_one_line_and_exits_2(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "infrastructure.yaml"
    bad.write_text("databases:\n  postgres: {host: 127.0.0.1, port: 99999}\n")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "INFRASTRUCTURE_FILE": str(bad),
    }
    res = subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "databases.postgres.port: Input should be less than or equal to 65535" in lines[0]
    )


async def test_a_crashing_monitor_loop_is_restarted_and_reported(
    infra_hub_factory: Any, redis_url: str
) -> None:
    fast = {"timeout": 2, "interval": 0.2}
    hub, client = await infra_hub_factory(
        {"databases": {"dragonflydb": {"host": "127.0.0.1", "port": 6379, "health_check": fast}}}
    )
    probe = hub.infrastructure.probe
    calls = 0

    async def exploding_once(component: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("probe exploded")
        return await probe(component)

    hub.infrastructure.probe = exploding_once  # type: ignore[method-assign]
    await wait_until(lambda: calls >= 2 and hub.infrastructure.health["dragonflydb"].status == "healthy")
    task = (await client.get("/health")).json()["checks"]["tasks"]["infrastructure:dragonflydb"]
    assert task["state"] == "running" and task["restarts"] >= 1
    assert task["last_error"] == "RuntimeError: probe exploded"

"""InfrastructureConfigManager layering and secret refusal; hot-reload files through the hub."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from centralhub.config.hot_reload import create_service_config
from centralhub.config.layered import InfraConfigError, InfrastructureConfigManager
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.conftest import make_settings, reset_database
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def test_layers_and_priorities(tmp_path: Path) -> None:
    write(
        tmp_path / "default.yaml",
        "databases:\n  postgresql: {host: default-host, port: 5432, pool_size: 5}\napi: {timeout: 30}\n",
    )
    write(
        tmp_path / "static/database/postgresql.json", json.dumps({"host": "static-host", "database": "suho"})
    )
    write(tmp_path / "static/messaging/nats.json", json.dumps({"servers": ["nats://n:4222"]}))
    write(tmp_path / "central-hub.json", json.dumps({"databases": {"postgresql": {"host": "svc-host"}}}))
    write(tmp_path / "production.yaml", "databases:\n  postgresql:\n    pool_size: 20\n")
    env = {
        "CENTRAL_HUB__DATABASES__POSTGRESQL__PORT": "6543",
        "CENTRAL_HUB__DATABASES__POSTGRESQL__PASSWORD": "0123",
        "CENTRAL_HUB__MESSAGING__NATS_1__HOST": "nats-env",
    }
    cfg = InfrastructureConfigManager("central-hub", "production", config_dir=tmp_path, env=env)
    await cfg.load_config()
    db = await cfg.get_database_config()
    assert db == {"host": "svc-host", "port": 6543, "pool_size": 20, "database": "suho", "password": "0123"}
    assert await cfg.get("messaging.nats.servers") == ["nats://n:4222"]
    assert await cfg.get("messaging.nats-1.host") == "nats-env"
    assert await cfg.get("api.timeout") == 30
    assert await cfg.get("api.missing", default=7) == 7
    assert [p for p, _ in cfg.sources] == [10, 20, 20, 40, 50, 100]
    assert cfg.get_all()["databases"]["postgresql"]["host"] == "svc-host"


async def test_infrastructure_yaml_is_typed_and_cache_config(tmp_path: Path) -> None:
    shipped = ROOT / "config" / "infrastructure.yaml"
    infra = (
        shipped.read_text()
        if shipped.exists()
        else (
            "databases:\n  postgresql: {type: postgres, host: 127.0.0.1, port: 5432}\n"
            "  dragonflydb: {type: redis, host: 127.0.0.1, port: 6379}\n"
        )
    )
    write(tmp_path / "infrastructure.yaml", infra)
    cfg = InfrastructureConfigManager("central-hub", config_dir=tmp_path, env={})
    await cfg.load_config()
    assert cfg.infrastructure is not None
    assert cfg.infrastructure.components["postgresql"].port == 5432
    assert (await cfg.get_cache_config())["port"] == 6379
    assert await cfg.get("databases.postgresql.host") == "127.0.0.1"


@pytest.mark.parametrize(
    ("name", "text", "expect"),
    [
        (
            "default.yaml",
            "databases:\n  postgresql:\n    password: hunter2\n",
            "CENTRAL_HUB__DATABASES__POSTGRESQL__PASSWORD",
        ),
        ("central-hub.json", json.dumps({"cache": {"url": "redis://u:pw@h:6379"}}), "cache.url"),
        ("default.yaml", "a: [1, 2\n", "line"),
        ("central-hub.json", '{"a": 1,,}', "line 1"),
        (
            "infrastructure.yaml",
            "databases:\n  pg: {type: postgres, host: h, port: nope}\n",
            "databases.pg.port",
        ),
    ],
)
async def test_bad_files_stop_loading_naming_file_and_key(
    tmp_path: Path, name: str, text: str, expect: str
) -> None:
    write(tmp_path / name, text)
    cfg = InfrastructureConfigManager("central-hub", config_dir=tmp_path, env={})
    with pytest.raises(InfraConfigError) as info:
        await cfg.load_config()
    assert name in str(info.value) and expect in str(info.value)


def test_create_service_config_deep_merges() -> None:
    cfg = create_service_config(
        "trading-engine",
        "trading",
        performance={"thread_pool_size": 20},
        trading={"max_orders_per_second": 1000},
    )
    assert cfg["performance"] == {
        "thread_pool_size": 20,
        "connection_pool_size": 20,
        "cache_ttl_seconds": 300,
    }
    assert cfg["trading"] == {"max_orders_per_second": 1000}
    assert cfg["service_info"]["name"] == "trading-engine"
    assert cfg["monitoring"]["alert_thresholds"]["error_rate_percent"] == 5.0


async def test_hot_reload_directory(database_url: str, tmp_path: Path) -> None:
    await reset_database(database_url)
    directory = tmp_path / "hot"
    name = f"hr-{uuid.uuid4().hex[:8]}"
    write(directory / f"{name}.yaml", "operational:\n  batch_size: 100\n")
    hub = Hub(make_settings(database_url, hot_reload_enabled=True, hot_reload_dir=str(directory)))
    await hub.start()
    try:
        transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as http:
            got = (await http.get(f"/api/v1/config/{name}")).json()
            assert got["config"] == {"operational": {"batch_size": 100}} and got["source"] == "hot_reload"
            assert hub.supervisor.report()["config-hot-reload"]["state"] == "running"

            # the watcher picks up an edit
            write(directory / f"{name}.yaml", "operational:\n  batch_size: 250\n")

            async def updated() -> bool:
                r = await http.get(f"/api/v1/config/{name}")
                return r.json()["config"]["operational"]["batch_size"] == 250

            await wait_until(updated, timeout=20, what="hot-reloaded edit")
            assert (await http.get(f"/api/v1/config/{name}")).json()["version"] == "1.1.0"

            # unchanged content stores nothing
            body = (await http.post("/api/v1/config/reload")).json()
            assert {"file": f"{name}.yaml", "service_name": name} in body["unchanged"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["reloaded_at"])

            # a broken file is rejected with its line; the previous version stays active
            write(directory / f"{name}.yaml", "operational:\n  batch_size: [1, 2\n")
            body = (await http.post("/config/reload")).json()
            rej = next(r for r in body["rejected"] if r["file"] == f"{name}.yaml")
            assert rej["line"] is not None and "YAML" in rej["message"]
            status = (await http.get("/api/v1/config/reload/status")).json()
            assert any(r["file"] == f"{name}.yaml" for r in status["rejected"])
            current = (await http.get(f"/api/v1/config/{name}")).json()
            assert current["revision"] == 2 and current["config"]["operational"]["batch_size"] == 250

            # a file breaking the registered schema is rejected too, nothing stored
            schema = {
                "type": "object",
                "properties": {
                    "operational": {
                        "type": "object",
                        "properties": {"batch_size": {"type": "integer", "maximum": 1000}},
                    }
                },
            }
            assert (await http.put(f"/api/v1/config/{name}/schema", json=schema)).status_code == 200
            write(directory / f"{name}.json", "")  # duplicate service name: rejected
            write(directory / f"{name}.yaml", "operational:\n  batch_size: 5000\n")
            body = (await http.post("/api/v1/config/reload")).json()
            msgs = {r["file"]: r["message"] for r in body["rejected"]}
            assert "more than one file" in msgs[f"{name}.yaml"]
            assert "more than one file" in msgs[f"{name}.json"]
            (directory / f"{name}.json").unlink()
            body = (await http.post("/api/v1/config/reload")).json()
            msgs = {r["file"]: r["message"] for r in body["rejected"]}
            assert "operational.batch_size" in msgs[f"{name}.yaml"]
            assert (await http.get(f"/api/v1/config/{name}")).json()["revision"] == 2
    finally:
        await hub.stop()
    assert not hub.config_service.hot_reload.watching


async def test_shipped_example_file_parses() -> None:
    from centralhub.config.hot_reload import parse_config_file

    doc = parse_config_file(ROOT / "config" / "hot-reload" / "example-service.yaml")
    assert doc["operational"]["batch_size"] == 100

"""Settings: every documented environment name is read, flags win over the environment, and a
bad value stops the hub with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from centralhub.core.settings import Settings, SettingsError, load_settings, to_sqlalchemy_url


@pytest.mark.parametrize(
    ("name", "raw", "attribute", "expected"),
    [
        ("CENTRAL_HUB_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("CENTRAL_HUB_PORT", "7123", "port", 7123),
        ("DATABASE_URL", "postgresql://u@db:5432/hub", "database_url", "postgresql://u@db:5432/hub"),
        ("NATS_URL", "nats://127.0.0.1:4222", "nats_url", "nats://127.0.0.1:4222"),
        ("CACHE_URL", "redis://127.0.0.1:6379/0", "cache_url", "redis://127.0.0.1:6379/0"),
        ("KAFKA_BROKERS", "k1:9092,k2:9092", "kafka_brokers", "k1:9092,k2:9092"),
        ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("CENTRAL_HUB_DEREGISTER_GRACE_SECONDS", "5", "deregister_grace_seconds", 5.0),
        ("CENTRAL_HUB_HEARTBEAT_FLUSH_SECONDS", "0.05", "heartbeat_flush_seconds", 0.05),
        ("CENTRAL_HUB_REAPER_INTERVAL_SECONDS", "2.5", "reaper_interval_seconds", 2.5),
        ("HOT_RELOAD_ENABLED", "yes", "hot_reload_enabled", True),
        ("HOT_RELOAD_ENABLED", "off", "hot_reload_enabled", False),
        ("HOT_RELOAD_DIR", "/etc/hub/reload", "hot_reload_dir", "/etc/hub/reload"),
        (
            "INFRASTRUCTURE_FILE",
            "config/infrastructure.yaml",
            "infrastructure_file",
            "config/infrastructure.yaml",
        ),
        ("NODE_ENV", "staging", "environment", "staging"),
        ("CENTRAL_HUB_ENV", "staging", "environment", "staging"),
        ("CENTRAL_HUB_AUTH", "OFF", "auth", "off"),
        ("CENTRAL_HUB_MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
        ("CENTRAL_HUB_CORS_ORIGINS", "https://a.example", "cors_origins", "https://a.example"),
        ("CENTRAL_HUB_RATE_LIMIT_PER_MINUTE", "60", "rate_limit_per_minute", 60),
        ("CENTRAL_HUB_RATE_LIMIT_BURST", "10", "rate_limit_burst", 10),
        ("CENTRAL_HUB_AUDIT_RETENTION_DAYS", "7", "audit_retention_days", 7.0),
        ("CENTRAL_HUB_IDLE_TIMEOUT_SECONDS", "2", "idle_timeout_seconds", 2.0),
        ("CENTRAL_HUB_MAX_CONNECTIONS", "50", "max_connections", 50),
        ("CENTRAL_HUB_JWKS_FILE", "/etc/hub/jwks.json", "jwks_file", "/etc/hub/jwks.json"),
    ],
)
def test_each_environment_name_is_read(name: str, raw: str, attribute: str, expected: Any) -> None:
    assert getattr(load_settings(env={name: raw}), attribute) == expected


def test_production_needs_a_secret_and_turns_auth_on() -> None:
    with pytest.raises(SettingsError, match="^CENTRAL_HUB_SECRET: required"):
        load_settings(env={"NODE_ENV": "production"})
    with pytest.raises(SettingsError, match="^CENTRAL_HUB_SECRET: required"):
        load_settings(env={"CENTRAL_HUB_AUTH": "required"})
    prod = load_settings(env={"NODE_ENV": "production", "CENTRAL_HUB_SECRET": "s" * 32})
    assert prod.environment == "production" and prod.auth_required
    assert "s" * 32 not in repr(prod)
    assert not load_settings(env={}).auth_required
    off = load_settings(
        env={"NODE_ENV": "production", "CENTRAL_HUB_SECRET": "s" * 32, "CENTRAL_HUB_AUTH": "off"}
    )
    assert not off.auth_required


def test_defaults_and_empty_values() -> None:
    defaults = load_settings(env={})
    assert (defaults.host, defaults.port, defaults.log_level) == ("127.0.0.1", 7000, "INFO")
    assert defaults.database_url == "sqlite:///var/centralhub.db" and defaults.is_sqlite
    assert defaults.nats_url is None and defaults.hot_reload_enabled is False
    # set but empty means "use the default", as in a shell
    assert load_settings(env={"CENTRAL_HUB_PORT": "", "NATS_URL": ""}) == defaults
    # NODE_ENV is the platform's name and wins over CENTRAL_HUB_ENV
    assert load_settings(env={"NODE_ENV": "test", "CENTRAL_HUB_ENV": "dev"}).environment == "test"


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRAL_HUB_PORT", "7555")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    settings = load_settings()
    assert (settings.port, settings.log_level) == (7555, "WARNING")
    # an explicit mapping replaces the process environment entirely
    assert load_settings(env={}).port == 7000


def test_flags_win_over_the_environment_and_unset_flags_change_nothing() -> None:
    env = {"CENTRAL_HUB_PORT": "7001", "CENTRAL_HUB_HOST": "10.0.0.1"}
    settings = load_settings(env=env, port=7002, host=None)
    assert (settings.port, settings.host) == (7002, "10.0.0.1")


def test_with_overrides_validates_and_keeps_the_rest() -> None:
    base = load_settings(env={"LOG_LEVEL": "ERROR"})
    changed = base.with_overrides(port=7100, infrastructure_file="infra.yaml", nats_url=None)
    assert (changed.port, changed.infrastructure_file, changed.log_level) == (7100, "infra.yaml", "ERROR")
    assert base.port == 7000  # settings are immutable values
    with pytest.raises(SettingsError, match=r"^CENTRAL_HUB_PORT: "):
        base.with_overrides(port=70000)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("CENTRAL_HUB_PORT", "abc", "CENTRAL_HUB_PORT: must be an integer between 1 and 65535 (got 'abc')"),
        ("CENTRAL_HUB_PORT", "0", "CENTRAL_HUB_PORT: must be an integer between 1 and 65535 (got '0')"),
        ("CENTRAL_HUB_HOST", "  ", "CENTRAL_HUB_HOST: must not be empty (got '  ')"),
        ("DATABASE_URL", "mysql://db/hub", "DATABASE_URL: 'mysql://db/hub' must start with one of"),
        ("DATABASE_URL", "sqlite://relative.db", "DATABASE_URL: 'sqlite://relative.db' must look like"),
        ("NATS_URL", "http://nats:4222", "NATS_URL: 'http://nats:4222' must start with one of nats://"),
        ("CACHE_URL", "redis://cache:99999", "CACHE_URL: cannot parse 'redis://cache:99999'"),
        ("KAFKA_BROKERS", "k1:9092,k2", "KAFKA_BROKERS: 'k2' must be host:port"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got 'loud')"),
        ("CENTRAL_HUB_DEREGISTER_GRACE_SECONDS", "soon", "CENTRAL_HUB_DEREGISTER_GRACE_SECONDS: must be"),
        ("CENTRAL_HUB_HEARTBEAT_FLUSH_SECONDS", "0", "CENTRAL_HUB_HEARTBEAT_FLUSH_SECONDS: must be a number"),
        (
            "CENTRAL_HUB_REAPER_INTERVAL_SECONDS",
            "-1",
            "CENTRAL_HUB_REAPER_INTERVAL_SECONDS: must be a number",
        ),
        ("HOT_RELOAD_ENABLED", "maybe", "HOT_RELOAD_ENABLED: must be true or false (got 'maybe')"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env={name: raw})
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_several_bad_values_are_reported_together_on_one_line() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"CENTRAL_HUB_PORT": "x", "LOG_LEVEL": "loud"})
    text = str(caught.value)
    assert "\n" not in text and text.startswith("CENTRAL_HUB_PORT: ") and "; LOG_LEVEL: " in text


def test_a_bad_flag_names_the_setting_too() -> None:
    with pytest.raises(SettingsError, match=r"^CENTRAL_HUB_PORT: .*\(got 0\)$"):
        load_settings(env={}, port=0)
    with pytest.raises(SettingsError, match=r"^bogus: "):
        load_settings(env={}, bogus="1")


def test_database_urls_map_to_async_drivers() -> None:
    assert to_sqlalchemy_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_sqlalchemy_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_sqlalchemy_url("sqlite:///var/hub.db") == "sqlite+aiosqlite:///var/hub.db"
    settings = load_settings(env={"DATABASE_URL": "postgresql://u@h/db"})
    assert isinstance(settings, Settings) and not settings.is_sqlite
    assert settings.sqlalchemy_url == "postgresql+asyncpg://u@h/db"
    with pytest.raises(SettingsError, match=r"^DATABASE_URL: unsupported scheme 'mysql'"):
        to_sqlalchemy_url("mysql://h/db")


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"CENTRAL_HUB_PORT": "abc"}, [], "CENTRAL_HUB_PORT"),
        ({}, ["--port", "0"], "CENTRAL_HUB_PORT"),
        ({"DATABASE_URL": "mysql://db/hub"}, [], "DATABASE_URL"),
    ],
)
def test_serve_with_a_bad_setting_exits_2_with_one_line(
    env: dict[str, str], args: list[str], named: str
) -> None:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTRAL_HUB_", "DATABASE_URL"))}
    full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "serve", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert named in lines[0]

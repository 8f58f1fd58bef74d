"""Hub settings, layered: command-line flags > environment > defaults.

Every value is checked once at start-up so a typo stops the hub with one line that names the
setting, rather than surfacing later as a confusing connection error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_SQLITE_PATH = Path("var") / "centralhub.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting has a value the hub cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the hub needs to start; built by :func:`load_settings`."""

    host: str = "127.0.0.1"
    port: int = 7000
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    nats_url: str | None = None
    cache_url: str | None = None
    kafka_brokers: str | None = None
    log_level: str = "INFO"
    #: seconds a critical (expired) instance is kept before it is removed
    deregister_grace_seconds: float = 60.0
    #: least time between two heartbeat batch writes (caps the database write rate)
    heartbeat_flush_seconds: float = 0.005
    #: how often TTL expiry is evaluated
    reaper_interval_seconds: float = 1.0
    hot_reload_enabled: bool = False
    hot_reload_dir: str = "config/hot-reload"
    infrastructure_file: str | None = None
    environment: str = "development"

    @property
    def sqlalchemy_url(self) -> str:
        """The URL in SQLAlchemy's async dialect form."""
        return to_sqlalchemy_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with non-None overrides applied and validated."""
        values = {k: v for k, v in overrides.items() if v is not None}
        return _validated(replace(self, **values))


def to_sqlalchemy_url(url: str) -> str:
    """Map the user's ``DATABASE_URL`` to an async SQLAlchemy URL (asyncpg / aiosqlite)."""
    scheme, _, rest = url.partition("://")
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    raise SettingsError(f"DATABASE_URL: unsupported scheme {scheme!r} (use postgresql:// or sqlite:///)")


def _check_url(name: str, value: str | None, schemes: tuple[str, ...]) -> None:
    if value is None:
        return
    for part in value.split(","):
        try:
            parts = urlsplit(part.strip())
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise SettingsError(f"{name}: cannot parse {part!r}: {exc}") from None
        if parts.scheme not in schemes:
            raise SettingsError(
                f"{name}: {part!r} must start with one of {', '.join(s + '://' for s in schemes)}"
            )
        if not parts.hostname:
            raise SettingsError(f"{name}: {part!r} has no host")


def _validated(s: Settings) -> Settings:
    if not 1 <= s.port <= 65535:
        raise SettingsError(f"CENTRAL_HUB_PORT: {s.port} is not a port number (1-65535)")
    if not s.host:
        raise SettingsError("CENTRAL_HUB_HOST: must not be empty")
    scheme = s.database_url.partition("://")[0]
    if scheme.startswith("sqlite"):
        if not s.database_url.partition("://")[2].startswith("/"):
            raise SettingsError(f"DATABASE_URL: {s.database_url!r} must look like sqlite:///path")
    else:
        _check_url("DATABASE_URL", s.database_url, ("postgresql", "postgres", "postgresql+asyncpg"))
    _check_url("NATS_URL", s.nats_url, ("nats", "tls", "ws", "wss"))
    _check_url("CACHE_URL", s.cache_url, ("redis", "rediss", "unix"))
    if s.kafka_brokers is not None:
        for broker in s.kafka_brokers.split(","):
            host, _, port = broker.strip().rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise SettingsError(f"KAFKA_BROKERS: {broker!r} must be host:port")
    if s.log_level.upper() not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL: {s.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    return replace(s, log_level=s.log_level.upper())


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}: {raw!r} must be greater than 0")
    return value


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: {raw!r} is not a boolean (true/false)")


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (default ``os.environ``) with flag ``overrides`` on top."""
    env = os.environ if env is None else env
    port_raw = env.get("CENTRAL_HUB_PORT") or "7000"
    try:
        port = int(port_raw)
    except ValueError:
        raise SettingsError(f"CENTRAL_HUB_PORT: {port_raw!r} is not a port number") from None
    settings = Settings(
        host=env.get("CENTRAL_HUB_HOST") or "127.0.0.1",
        port=port,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}",
        nats_url=env.get("NATS_URL") or None,
        cache_url=env.get("CACHE_URL") or None,
        kafka_brokers=env.get("KAFKA_BROKERS") or None,
        log_level=env.get("LOG_LEVEL") or "INFO",
        deregister_grace_seconds=_env_float(env, "CENTRAL_HUB_DEREGISTER_GRACE_SECONDS", 60.0),
        heartbeat_flush_seconds=_env_float(env, "CENTRAL_HUB_HEARTBEAT_FLUSH_SECONDS", 0.005),
        reaper_interval_seconds=_env_float(env, "CENTRAL_HUB_REAPER_INTERVAL_SECONDS", 1.0),
        hot_reload_enabled=_env_bool(env, "HOT_RELOAD_ENABLED", False),
        hot_reload_dir=env.get("HOT_RELOAD_DIR") or "config/hot-reload",
        infrastructure_file=env.get("INFRASTRUCTURE_FILE") or None,
        environment=env.get("NODE_ENV") or env.get("CENTRAL_HUB_ENV") or "development",
    )
    return settings.with_overrides(**overrides)

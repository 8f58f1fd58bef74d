"""Hub settings, layered: command-line flags > environment > defaults.

pydantic-settings reads the environment; every value is checked once at start-up so a typo stops
the hub with one line that names the setting (``CENTRAL_HUB_PORT: must be an integer between 1
and 65535 (got 'abc')``), rather than surfacing later as a confusing connection error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from centralhub.core import wire
from centralhub.core.seed_env import with_composed_urls

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "ENV_NAMES",
    "LOG_LEVELS",
    "Settings",
    "SettingsError",
    "load_settings",
    "to_sqlalchemy_url",
]

DEFAULT_SQLITE_PATH = Path("var") / "centralhub.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: The environment variables each setting is read from, first match wins.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "host": ("CENTRAL_HUB_HOST",),
    "port": ("CENTRAL_HUB_PORT",),
    "database_url": ("DATABASE_URL",),
    "nats_url": ("NATS_URL",),
    "cluster": ("CENTRAL_HUB_CLUSTER",),
    "cache_url": ("CACHE_URL",),
    "kafka_brokers": ("KAFKA_BROKERS",),
    "log_level": ("LOG_LEVEL",),
    "deregister_grace_seconds": ("CENTRAL_HUB_DEREGISTER_GRACE_SECONDS",),
    "heartbeat_flush_seconds": ("CENTRAL_HUB_HEARTBEAT_FLUSH_SECONDS",),
    "reaper_interval_seconds": ("CENTRAL_HUB_REAPER_INTERVAL_SECONDS",),
    "hot_reload_enabled": ("HOT_RELOAD_ENABLED",),
    "hot_reload_dir": ("HOT_RELOAD_DIR",),
    "infrastructure_file": ("INFRASTRUCTURE_FILE",),
    "environment": ("NODE_ENV", "CENTRAL_HUB_ENV"),
    "secret": ("CENTRAL_HUB_SECRET",),
    "auth": ("CENTRAL_HUB_AUTH",),
    "jwt_public_key_file": ("CENTRAL_HUB_JWT_PUBLIC_KEY_FILE",),
    "jwks_file": ("CENTRAL_HUB_JWKS_FILE",),
    "max_body_bytes": ("CENTRAL_HUB_MAX_BODY_BYTES",),
    "cors_origins": ("CENTRAL_HUB_CORS_ORIGINS",),
    "rate_limit_per_minute": ("CENTRAL_HUB_RATE_LIMIT_PER_MINUTE",),
    "rate_limit_burst": ("CENTRAL_HUB_RATE_LIMIT_BURST",),
    "ssl_certfile": ("CENTRAL_HUB_SSL_CERTFILE",),
    "ssl_keyfile": ("CENTRAL_HUB_SSL_KEYFILE",),
    "audit_retention_days": ("CENTRAL_HUB_AUDIT_RETENTION_DAYS",),
    "idle_timeout_seconds": ("CENTRAL_HUB_IDLE_TIMEOUT_SECONDS",),
    "header_timeout_seconds": ("CENTRAL_HUB_HEADER_TIMEOUT_SECONDS",),
    "max_connections": ("CENTRAL_HUB_MAX_CONNECTIONS",),
    "startup_timeout_seconds": ("CENTRAL_HUB_STARTUP_TIMEOUT",),
    "deployment_lease_seconds": ("CENTRAL_HUB_DEPLOYMENT_LEASE_SECONDS",),
    "deployment_drain_seconds": ("CENTRAL_HUB_DEPLOYMENT_DRAIN_SECONDS",),
    "replica_lease_seconds": ("CENTRAL_HUB_REPLICA_LEASE_SECONDS",),
    "workers": ("CENTRAL_HUB_WORKERS",),
    "config_drift_seconds": ("CENTRAL_HUB_CONFIG_DRIFT_SECONDS",),
    "canary_check_seconds": ("CENTRAL_HUB_CANARY_CHECK_SECONDS",),
    "config_rollout_lease_seconds": ("CENTRAL_HUB_CONFIG_ROLLOUT_LEASE_SECONDS",),
}

#: what ``CENTRAL_HUB_AUTH`` accepts; unset means required in production, off elsewhere
AUTH_MODES = ("required", "off")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# The environment :func:`load_settings` was given; ``None`` means the process environment.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("centralhub_settings_environ", default=None)


class SettingsError(ValueError):
    """A setting has a value the hub cannot use; the one-line message names the setting."""


def _env(name: str, default: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(*ENV_NAMES[name]))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _positive_number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number greater than 0 (got {_shown(value)})") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"must be a number greater than 0 (got {_shown(value)})")
    return number


def _check_url(value: str, schemes: tuple[str, ...]) -> None:
    for part in value.split(","):
        try:
            parts = urlsplit(part.strip())
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"cannot parse {_shown(part)}: {exc}") from None
        if parts.scheme not in schemes:
            raise ValueError(f"{_shown(part)} must start with one of {', '.join(s + '://' for s in schemes)}")
        if not parts.hostname:
            raise ValueError(f"{_shown(part)} has no host")


class Settings(BaseSettings):
    """Everything the hub needs to start; built by :func:`load_settings`, immutable."""

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        # ``PORT=`` (set but empty) means "use the default", as a shell user expects
        env_ignore_empty=True,
        # flags arrive by field name (``port=``), the environment by variable name
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
    )

    host: str = _env("host", "127.0.0.1")
    port: int = _env("port", 7000)
    database_url: str = _env("database_url", f"sqlite:///{DEFAULT_SQLITE_PATH}")
    #: one NATS server or a comma-separated list of a cluster's servers
    nats_url: str | None = _env("nats_url", None)
    #: every NATS subject this hub (and its SDK clients) uses starts with ``<cluster>.``, so
    #: unrelated hubs (staging, production) can share one NATS without seeing each other
    cluster: str = _env("cluster", "centralhub")
    cache_url: str | None = _env("cache_url", None)
    kafka_brokers: str | None = _env("kafka_brokers", None)
    log_level: str = _env("log_level", "INFO")
    #: seconds a critical (expired) instance is kept before it is removed
    deregister_grace_seconds: float = _env("deregister_grace_seconds", 60.0)
    #: least time between two heartbeat batch writes (caps the database write rate)
    heartbeat_flush_seconds: float = _env("heartbeat_flush_seconds", 0.005)
    #: how often TTL expiry is evaluated
    reaper_interval_seconds: float = _env("reaper_interval_seconds", 1.0)
    hot_reload_enabled: bool = _env("hot_reload_enabled", False)
    hot_reload_dir: str = _env("hot_reload_dir", "config/hot-reload")
    infrastructure_file: str | None = _env("infrastructure_file", None)
    environment: str = _env("environment", "development")
    #: signs JWTs and encrypts secret config values; required in production, never defaulted
    secret: str | None = Field(None, validation_alias=AliasChoices(*ENV_NAMES["secret"]), repr=False)
    auth: str | None = _env("auth", None)
    #: PEM public key verifying JWTs issued elsewhere (RS256/ES256/EdDSA)
    jwt_public_key_file: str | None = _env("jwt_public_key_file", None)
    #: JWKS document (a file) verifying JWTs issued elsewhere
    jwks_file: str | None = _env("jwks_file", None)
    #: request bodies larger than this are refused with 413 before they are read
    max_body_bytes: int = _env("max_body_bytes", 1024 * 1024)
    #: comma-separated origins allowed by CORS; empty means CORS is off
    cors_origins: str | None = _env("cors_origins", None)
    rate_limit_per_minute: int = _env("rate_limit_per_minute", 1000)
    rate_limit_burst: int = _env("rate_limit_burst", 100)
    ssl_certfile: str | None = _env("ssl_certfile", None)
    ssl_keyfile: str | None = _env("ssl_keyfile", None)
    audit_retention_days: float = _env("audit_retention_days", 90.0)
    #: an idle keep-alive connection is closed after this many seconds
    idle_timeout_seconds: float = _env("idle_timeout_seconds", 5.0)
    #: a connection whose request head is not complete this long after it opened (or after
    #: its previous answer) is closed
    header_timeout_seconds: float = _env("header_timeout_seconds", 10.0)
    #: concurrent connections beyond this are refused (503) instead of slowing everyone
    max_connections: int = _env("max_connections", 2048)
    #: how long ``serve`` keeps trying to reach the database at start before it gives up
    startup_timeout_seconds: float = _env("startup_timeout_seconds", 60.0)
    #: a deployment's owner renews its claim this often (a third of it); a replica adopts a
    #: deployment whose owner has not renewed for this long
    deployment_lease_seconds: float = _env("deployment_lease_seconds", 10.0)
    #: an instance still on an older configuration revision (or failing to apply the current
    #: one) this long after it was stored is flagged as drifted
    config_drift_seconds: float = _env("config_drift_seconds", 60.0)
    #: while a configuration rollout bakes, each canary is probed at least this often (a
    #: rollout request may set its own)
    canary_check_seconds: float = _env("canary_check_seconds", 5.0)
    #: the replica tending a rollout renews its claim this often (a third of it); another
    #: replica carries on a rollout whose owner has not renewed for this long
    config_rollout_lease_seconds: float = _env("config_rollout_lease_seconds", 10.0)
    #: how long replaced instances stay draining after a successful deployment before they are
    #: deregistered (a deployment request may set its own)
    deployment_drain_seconds: float = _env("deployment_drain_seconds", 30.0)
    #: a replica renews its membership lease every third of this; one silent this long is dead
    #: and its health checks move to the live replicas
    replica_lease_seconds: float = _env("replica_lease_seconds", 10.0)
    #: processes ``serve`` runs on the one port, each a replica of its own (PostgreSQL + NATS)
    workers: int = _env("workers", 1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init values) over the environment; no dotenv or secrets files."""
        environ = _ENVIRON.get()
        if environ is None:
            return init_settings, env_settings
        source = EnvSettingsSource(settings_cls, case_sensitive=True, env_ignore_empty=True)
        # read the mapping given to load_settings instead of os.environ
        source.env_vars = {k: v for k, v in environ.items() if v != ""}
        return init_settings, source

    # -- one check per setting; each message is completed with the setting's name -------------
    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> int:
        try:
            port = int(str(value).strip()) if not isinstance(value, bool) else -1
        except ValueError:
            port = -1
        if not 1 <= port <= 65535:
            raise ValueError(f"must be an integer between 1 and 65535 (got {_shown(value)})")
        return port

    @field_validator("host", "hot_reload_dir", "environment", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must not be empty (got {_shown(value)})")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a URL (got {_shown(value)})")
        scheme, _, rest = value.partition("://")
        if scheme.startswith("sqlite"):
            if not rest.startswith("/"):
                raise ValueError(f"{_shown(value)} must look like sqlite:///path")
        else:
            _check_url(value, ("postgresql", "postgres", "postgresql+asyncpg"))
        return value

    @field_validator("nats_url", mode="before")
    @classmethod
    def _nats_url(cls, value: Any) -> str | None:
        if value is not None:
            _check_url(str(value), ("nats", "tls", "ws", "wss"))
        return value

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str) -> str:
        if not wire.is_cluster_name(value):
            raise ValueError(
                f"{_shown(value)} must be 1-64 letters, digits, '_' or '-' (one NATS subject token)"
            )
        return value

    @field_validator("cache_url", mode="before")
    @classmethod
    def _cache_url(cls, value: Any) -> str | None:
        if value is not None:
            _check_url(str(value), ("redis", "rediss", "unix"))
        return value

    @field_validator("kafka_brokers", mode="before")
    @classmethod
    def _kafka_brokers(cls, value: Any) -> str | None:
        if value is None:
            return None
        for broker in str(value).split(","):
            host, _, port = broker.strip().rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{_shown(broker)} must be host:port")
        return str(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (got {_shown(value)})")
        return level

    @field_validator(
        "deregister_grace_seconds", "heartbeat_flush_seconds", "reaper_interval_seconds", mode="before"
    )
    @classmethod
    def _seconds(cls, value: Any) -> float:
        return _positive_number(value)

    @field_validator("startup_timeout_seconds", mode="before")
    @classmethod
    def _startup_timeout(cls, value: Any) -> float:
        return _positive_number(value)

    @field_validator("hot_reload_enabled", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"must be true or false (got {_shown(value)})")

    @field_validator("auth", mode="before")
    @classmethod
    def _auth(cls, value: Any) -> str | None:
        if value is None:
            return None
        mode = str(value).strip().lower()
        if mode not in AUTH_MODES:
            raise ValueError(f"must be one of {', '.join(AUTH_MODES)} (got {_shown(value)})")
        return mode

    @field_validator("secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> str | None:
        if value is None:
            return None
        if len(str(value)) < 16:
            # never echo the value: it is a secret even when it is a bad one
            raise ValueError("must be at least 16 characters long")
        return str(value)

    @field_validator(
        "max_body_bytes",
        "rate_limit_per_minute",
        "rate_limit_burst",
        "max_connections",
        "workers",
        mode="before",
    )
    @classmethod
    def _positive_int(cls, value: Any) -> int:
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else 0
        except ValueError:
            number = 0
        if number < 1:
            raise ValueError(f"must be a whole number greater than 0 (got {_shown(value)})")
        return number

    @field_validator(
        "audit_retention_days",
        "idle_timeout_seconds",
        "header_timeout_seconds",
        "replica_lease_seconds",
        mode="before",
    )
    @classmethod
    def _positive_float(cls, value: Any) -> float:
        return _positive_number(value)

    @field_validator(
        "deployment_lease_seconds",
        "config_drift_seconds",
        "canary_check_seconds",
        "config_rollout_lease_seconds",
        mode="before",
    )
    @classmethod
    def _lease_seconds(cls, value: Any) -> float:
        return _positive_number(value)

    @field_validator("deployment_drain_seconds", mode="before")
    @classmethod
    def _drain_seconds(cls, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if not 0 <= number < float("inf"):
            raise ValueError(f"must be a number of seconds, 0 or more (got {_shown(value)})")
        return number

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> Settings:
        if (self.auth_required or self.is_production) and not self.secret:
            raise ValueError(
                "CENTRAL_HUB_SECRET: required when auth is on (production, or CENTRAL_HUB_AUTH=required);"
                " there is no default secret"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("CENTRAL_HUB_SSL_CERTFILE and CENTRAL_HUB_SSL_KEYFILE go together: set both")
        return self

    # -- derived -----------------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.environment.strip().lower() in ("production", "prod")

    @property
    def auth_required(self) -> bool:
        """Auth is on in production unless explicitly turned off, and off elsewhere unless required."""
        if self.auth is not None:
            return self.auth == "required"
        return self.is_production

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in (self.cors_origins or "").split(",") if o.strip()]

    @property
    def sqlalchemy_url(self) -> str:
        """The URL in SQLAlchemy's async dialect form."""
        return to_sqlalchemy_url(self.database_url)

    @property
    def nats_servers(self) -> list[str]:
        """``NATS_URL`` split into the servers of the cluster (empty when NATS is not used)."""
        return wire.split_servers(self.nats_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with non-None overrides applied and validated (the environment is not reread)."""
        values = {**self.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        with _environment({}):
            return _build(values)


def to_sqlalchemy_url(url: str) -> str:
    """Map the user's ``DATABASE_URL`` to an async SQLAlchemy URL (asyncpg / aiosqlite)."""
    scheme, _, rest = url.partition("://")
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    raise SettingsError(f"DATABASE_URL: unsupported scheme {scheme!r} (use postgresql:// or sqlite:///)")


@contextmanager
def _environment(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """The environment name of the setting a pydantic error location points at."""
    key = str(loc[0]) if loc else "settings"
    for field, names in ENV_NAMES.items():
        if key == field or key in names:
            return names[0] if field != "environment" else "NODE_ENV/CENTRAL_HUB_ENV"
    return key


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        cause = (err.get("ctx") or {}).get("error")
        message = str(cause) if isinstance(cause, ValueError) else str(err.get("msg", "invalid"))
        loc = tuple(err.get("loc", ()))
        # a check across settings names its settings in the message itself
        parts.append(f"{_setting_name(loc)}: {message}" if loc else message.removeprefix("Value error, "))
    return "; ".join(parts).replace("\n", " ")


def _build(values: Mapping[str, Any]) -> Settings:
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (default ``os.environ``) with flag ``overrides`` on top.

    ``None`` overrides are ignored (an unset flag); a bad value raises :class:`SettingsError`.
    """
    # the original platform's POSTGRES_*/DRAGONFLY_* parts stand in for unset URLs
    given = os.environ if env is None else env
    composed = with_composed_urls(given)
    with _environment(env if composed is given else composed):
        return _build({k: v for k, v in overrides.items() if v is not None})

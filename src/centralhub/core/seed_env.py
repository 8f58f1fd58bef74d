"""The original platform's environment names, read where ours are unset.

Its compose files describe each store by parts (``POSTGRES_HOST``, ``POSTGRES_PORT``,
``POSTGRES_DB``, ``POSTGRES_USER``, ``POSTGRES_PASSWORD``; ``DRAGONFLY_HOST``/``PORT``/
``PASSWORD``/``DB``; ``CLICKHOUSE_HOST``/``PORT``/``USER``/``PASSWORD``/``DATABASE``), where the
hub takes one URL. When ``DATABASE_URL`` or ``CACHE_URL`` is unset and the parts are there, the
URL is composed from them (user and password percent-encoded), so an existing deployment runs
unchanged; ``composed_urls`` says what was composed, with passwords masked, for the start-up log.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["clickhouse_settings", "composed_urls", "with_composed_urls"]


def _auth(user: str | None, password: str | None, *, mask: bool) -> str:
    if not user and not password:
        return ""
    out = quote(user or "", safe="")
    if password:
        out += ":" + ("***" if mask else quote(password, safe=""))
    return out + "@"


def postgres_url(env: Mapping[str, str], *, mask: bool = False) -> str | None:
    host = env.get("POSTGRES_HOST")
    if not host:
        return None
    password = env.get("POSTGRES_PASSWORD")
    user = env.get("POSTGRES_USER") or "postgres"
    port = env.get("POSTGRES_PORT") or "5432"
    database = env.get("POSTGRES_DB") or env.get("POSTGRES_DATABASE") or user
    return f"postgresql://{_auth(user, password, mask=mask)}{host}:{port}/{quote(database, safe='')}"


def dragonfly_url(env: Mapping[str, str], *, mask: bool = False) -> str | None:
    host = env.get("DRAGONFLY_HOST")
    if not host:
        return None
    password = env.get("DRAGONFLY_PASSWORD")
    port = env.get("DRAGONFLY_PORT") or "6379"
    db = env.get("DRAGONFLY_DB") or "0"
    return f"redis://{_auth(None, password, mask=mask)}{host}:{port}/{db}"


def clickhouse_settings(env: Mapping[str, str]) -> dict[str, object] | None:
    """ClickHouse for the SDK's router: ``{"host", "port", "user", "password", "database"}``."""
    host = env.get("CLICKHOUSE_HOST")
    if not host:
        return None
    settings: dict[str, object] = {"host": host, "port": int(env.get("CLICKHOUSE_PORT") or 8123)}
    for key, name in (
        ("user", "CLICKHOUSE_USER"),
        ("password", "CLICKHOUSE_PASSWORD"),
        ("database", "CLICKHOUSE_DATABASE"),
    ):
        if env.get(name):
            settings[key] = env[name]
    return settings


def composed_urls(env: Mapping[str, str]) -> dict[str, str]:
    """What would be composed, passwords masked: ``{"DATABASE_URL": ..., "CACHE_URL": ...}``."""
    out: dict[str, str] = {}
    if not env.get("DATABASE_URL") and (url := postgres_url(env, mask=True)):
        out["DATABASE_URL"] = url
    if not env.get("CACHE_URL") and (url := dragonfly_url(env, mask=True)):
        out["CACHE_URL"] = url
    return out


def with_composed_urls(env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` with ``DATABASE_URL``/``CACHE_URL`` composed from the parts where unset."""
    extra: dict[str, str] = {}
    if not env.get("DATABASE_URL") and (url := postgres_url(env)):
        extra["DATABASE_URL"] = url
    if not env.get("CACHE_URL") and (url := dragonfly_url(env)):
        extra["CACHE_URL"] = url
    return {**env, **extra} if extra else env

"""Where each store is and how to log in: one :class:`StoreConfig` per configured store.

A store is named in the router's configuration (``timescaledb``, ``clickhouse``,
``dragonflydb``, ``arangodb``, ``weaviate``, ``mongodb``, or any name with an explicit
``kind``); its settings are either a ``url`` or ``host``/``port``/``database``/``user``/
``password``. The password never appears in ``repr`` or in what the router reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["KINDS", "StoreConfig", "kind_of", "redact_url"]

#: the store kinds the SDK has a backend for, and the names each is known by
KINDS: dict[str, tuple[str, ...]] = {
    "postgresql": ("timescaledb", "timescale", "postgresql", "postgres"),
    "clickhouse": ("clickhouse",),
    "redis": ("dragonflydb", "dragonfly", "redis"),
    "arangodb": ("arangodb", "arango"),
    "weaviate": ("weaviate",),
    "mongodb": ("mongodb", "mongo"),
}
#: each kind's port when none is given
DEFAULT_PORTS = {
    "postgresql": 5432,
    "clickhouse": 8123,
    "redis": 6379,
    "arangodb": 8529,
    "weaviate": 8080,
    "mongodb": 27017,
}


def kind_of(name: str, explicit: str | None = None) -> str:
    """The backend kind of a store called ``name`` (or of its explicit ``kind``)."""
    wanted = (explicit or name).lower()
    for kind, names in KINDS.items():
        if wanted == kind or wanted in names:
            return kind
    known = sorted({n for names in KINDS.values() for n in names})
    raise ValueError(f"store {name!r}: unknown kind {wanted!r} (known: {', '.join(known)})")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and reports)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True)
class StoreConfig:
    name: str
    kind: str
    host: str = "127.0.0.1"
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    url: str | None = field(default=None, repr=False)
    #: anything else the backend's client takes (pool sizes, timeouts, ``embedded`` for chdb)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, name: str, raw: Mapping[str, Any]) -> StoreConfig:
        if not isinstance(raw, Mapping):
            raise ValueError(f"store {name!r}: settings must be a mapping (got {type(raw).__name__})")
        values = dict(raw)
        kind = kind_of(name, values.pop("kind", None))
        user = values.pop("user", None) or values.pop("username", None)
        database = values.pop("database", None) or values.pop("db", None) or values.pop("dbname", None)
        port = values.pop("port", None)
        return cls(
            name=name,
            kind=kind,
            host=str(values.pop("host", "127.0.0.1")),
            port=int(port) if port is not None else DEFAULT_PORTS[kind],
            database=None if database is None else str(database),
            user=user,
            password=values.pop("password", None),
            url=values.pop("url", None) or values.pop("dsn", None),
            options=values,
        )

    @property
    def where(self) -> str:
        """Where the store is, without the password."""
        if self.url:
            return redact_url(self.url)
        return f"{self.kind}://{self.host}:{self.port}" + (f"/{self.database}" if self.database else "")

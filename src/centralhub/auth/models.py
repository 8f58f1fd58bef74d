"""Who is calling and what they may do: scopes, principals and stored API keys."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Scope(enum.StrEnum):
    REGISTRY_READ = "registry:read"
    #: register, heartbeat, deregister, drain
    REGISTRY_WRITE = "registry:write"
    CONFIG_READ = "config:read"
    #: set, patch, rollback
    CONFIG_WRITE = "config:write"
    #: schemas, reload, hot reload
    CONFIG_ADMIN = "config:admin"
    #: alerts, silences, deployments
    OPS = "ops"
    #: keys, audit, every tenant; implies every other scope
    ADMIN = "admin"


ALL_SCOPES = frozenset(s.value for s in Scope)

#: a scope grants the ones listed here too, so a writer never needs a second scope to read back
IMPLIED: dict[str, frozenset[str]] = {
    Scope.REGISTRY_WRITE: frozenset({Scope.REGISTRY_READ}),
    Scope.CONFIG_WRITE: frozenset({Scope.CONFIG_READ}),
    Scope.CONFIG_ADMIN: frozenset({Scope.CONFIG_WRITE, Scope.CONFIG_READ}),
    Scope.ADMIN: ALL_SCOPES,
}


def expand(scopes: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    """``scopes`` with everything they imply."""
    out = set(scopes)
    for scope in scopes:
        out |= IMPLIED.get(scope, frozenset())
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    ``tenant`` set: the caller acts in that tenant only. ``services`` set: the caller may write
    (register, heartbeat, change configuration) only for those services.
    """

    name: str
    scopes: frozenset[str]
    tenant: str | None = None
    services: frozenset[str] | None = None
    #: ``key``, ``jwt``, or ``anonymous`` when auth is off
    kind: str = "key"
    #: requests per minute for this credential; ``None`` uses the hub's default
    rate_limit_per_minute: int | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def may_act_for(self, service: str) -> bool:
        return self.services is None or service in self.services

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes


#: the caller when auth is off: may do everything, in any tenant
ANONYMOUS = Principal(name="anonymous", scopes=ALL_SCOPES, kind="anonymous")


@dataclass(slots=True)
class ApiKey:
    """A stored API key: only a hash of the secret is kept."""

    name: str
    #: the first characters of the key, shown in listings so an operator can tell keys apart
    prefix: str
    key_hash: str
    scopes: frozenset[str]
    tenant: str | None = None
    services: frozenset[str] | None = None
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    rate_limit_per_minute: int | None = None
    created_by: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def principal(self) -> Principal:
        return Principal(
            name=self.name,
            scopes=expand(self.scopes),
            tenant=self.tenant,
            services=self.services,
            kind="key",
            rate_limit_per_minute=self.rate_limit_per_minute,
        )


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    """Emitted after a key is revoked; every replica drops it from its verified-key cache."""

    name: str

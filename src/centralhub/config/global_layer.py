"""The global configuration: one document per tenant (service name ``_global``) under every
service's own.

A service's **effective** configuration is the global document with the service's own merged
over it (objects merged key by key, the service's value winning; anything else replaced), and
both layers keep their own history, diff, rollback and schema. An answer carries the service's
own ``revision`` (what ``If-Match`` and history speak of) and the ``global_revision`` it was
merged with; a change of either is a new effective configuration. A service with no document of
its own is answered the global one (``revision`` 0). The global document holds no secrets: its
schema may not mark values ``x-secret`` (a secret is sealed to one service), and credentials
are refused in it as everywhere.

The merged version is kept per service until either layer moves, so an unchanged read costs a
look-up, as it did before there was a global layer.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from centralhub.config.models import ConfigVersion
from centralhub.core.errors import InvalidInput, NotFound
from centralhub.core.wire import deep_merge

if TYPE_CHECKING:
    from centralhub.config.service import ConfigService

__all__ = ["GLOBAL", "GlobalLayer", "check_global_schema"]

#: the service name of the global document
GLOBAL = "_global"


def _has_secret(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("x-secret") is True:
            return True
        return any(_has_secret(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_secret(v) for v in schema)
    return False


def check_global_schema(service: str, schema: Any) -> None:
    if service == GLOBAL and _has_secret(schema):
        raise InvalidInput(
            "schema: the global configuration holds no secrets (a secret is sealed to one service): "
            'keep "x-secret" values in the service\'s own configuration'
        )


class GlobalLayer:
    def __init__(self, service: ConfigService) -> None:
        self.svc = service
        self._merged: dict[tuple[str, str], tuple[int, int, ConfigVersion]] = {}

    async def current(self, tenant: str) -> ConfigVersion | None:
        """The tenant's global version, from memory when memory knows it (none stored included)."""
        known, held = self.svc.current.authoritative((tenant, GLOBAL))
        if known:
            return held
        return await self.svc._latest(tenant, GLOBAL)

    async def effective(self, tenant: str, service: str, *, view: bool = False) -> ConfigVersion:
        """What ``service`` runs: its own version over the global one (``NotFound`` when neither
        is stored)."""
        own: ConfigVersion | None
        try:
            own = await self.svc.current_version(tenant, service, view=view)
        except NotFound:
            own = None
        if service == GLOBAL:
            if own is None:
                raise NotFound("no global configuration stored")
            return own
        glob = await self.current(tenant)
        if glob is None:
            if own is None:
                raise NotFound(f"no configuration stored for service {service!r} (nor a global one)")
            return own
        return self.merge(own, glob, tenant=tenant, service=service)

    def merge(
        self, own: ConfigVersion | None, glob: ConfigVersion, *, tenant: str, service: str
    ) -> ConfigVersion:
        key = (tenant, service)
        stamp = (own.revision if own else 0, glob.revision)
        held = self._merged.get(key)
        if held is not None and held[:2] == stamp:
            return held[2]
        if own is None:
            merged = dataclasses.replace(
                glob, service_name=service, revision=0, source="global", global_revision=glob.revision
            )
        else:
            merged = dataclasses.replace(
                own,
                config=deep_merge(glob.config, own.config),
                created_at=max(own.created_at, glob.created_at),
                global_revision=glob.revision,
            )
        if len(self._merged) > 100_000:
            self._merged.clear()
        self._merged[key] = (*stamp, merged)
        return merged

    async def over(self, version: ConfigVersion) -> ConfigVersion:
        """``version`` (a stored or candidate version of a service) with the global layer under it."""
        if version.service_name == GLOBAL:
            return version
        glob = await self.current(version.tenant_id)
        if glob is None:
            return version
        return dataclasses.replace(
            version,
            config=deep_merge(glob.config, version.config),
            global_revision=glob.revision,
        )

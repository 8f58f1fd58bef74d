"""Draining: an instance taken out of discovery by hand (or by a rollout) until undrained.

:class:`~centralhub.registry.service.InstanceRegistry` inherits it; a drain is a status
change like any other (stored, announced once, followed by every replica), recorded in the
audit trail when it changed something.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from centralhub.audit.service import AuditLog
from centralhub.registry.models import Instance, InstanceStatus
from centralhub.registry.reads import storable, unknown_instance


class Draining:
    """``drain``/``undrain`` over the registry's status writes."""

    audit: AuditLog | None
    set_status: Callable[[Instance, InstanceStatus], Awaitable[bool]]
    _touchable: Callable[[str, str, str], Awaitable[Instance]]

    async def drain(self, tenant: str, service: str, instance_id: str) -> Instance:
        """Take an instance out of discovery (``draining``) until it is undrained or removed."""
        return await self._set_drained(tenant, service, instance_id, True)

    async def undrain(self, tenant: str, service: str, instance_id: str) -> Instance:
        """Put a draining instance back into discovery as ``passing``; its health checks or TTL
        decide from there. Any other status is left as it is."""
        return await self._set_drained(tenant, service, instance_id, False)

    async def _set_drained(self, tenant: str, service: str, instance_id: str, drained: bool) -> Instance:
        if not storable(instance_id):
            raise unknown_instance(service, instance_id)
        inst = await self._touchable(tenant, service, instance_id)
        before = inst.status.value
        if drained and inst.status != InstanceStatus.DRAINING:
            await self.set_status(inst, InstanceStatus.DRAINING)
        elif not drained and inst.status == InstanceStatus.DRAINING:
            await self.set_status(inst, InstanceStatus.PASSING)
        if self.audit is not None and before != inst.status.value:
            await self.audit.record_instance(
                "instance.drain" if drained else "instance.undrain",
                tenant,
                service,
                instance_id,
                before={"status": before},
                after={"status": inst.status.value},
            )
        return inst

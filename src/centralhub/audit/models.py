"""One audit record: a write someone made, with what it looked like before and after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class AuditEntry:
    """A recorded write. ``at`` is epoch seconds; ``before``/``after`` are JSON snapshots
    (``None`` where the write has no such side, e.g. a creation has no ``before``)."""

    id: str
    at: float
    #: key name, JWT ``sub``, or ``anonymous`` when auth is off
    actor: str
    #: ``action`` is ``<resource kind>.<verb>``: ``config.set``, ``instance.deregister``...
    action: str
    #: what was changed, as a path: ``config/orders``, ``instances/orders/<id>``...
    resource: str
    address: str | None = None
    tenant_id: str | None = None
    before: Any = None
    after: Any = None
    details: dict[str, Any] | None = None

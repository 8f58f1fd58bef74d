"""What the audit trail records of configuration changes.

Kept apart from :class:`~centralhub.config.service.ConfigService` so the write path reads as
"validate, seal, store" while the rules of what an auditor sees live in one place: every
entry is written inside the write's own transaction (a change is never stored unaudited), and
secret values are masked, so the trail never becomes a second copy of the credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from centralhub.config.models import ConfigVersion
from centralhub.config.secrets import mask

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from centralhub.audit.models import AuditEntry
    from centralhub.audit.service import AuditLog

#: audit action of a version written by each source (others: ``config.<source>``)
AUDIT_ACTIONS = {
    "api": "config.set",
    "patch": "config.patch",
    "rollback": "config.rollback",
    "hot_reload": "config.hot_reload",
}


def audit_view(document: Any, schema: dict[str, Any] | None) -> Any:
    """What the audit trail keeps of a document: secret values masked."""
    return mask(document, schema)


def version_state(version: ConfigVersion | None, schema: Any) -> dict[str, Any] | None:
    """The ``before``/``after`` of a version in an audit entry."""
    if version is None:
        return None
    return {
        "version": version.version,
        "revision": version.revision,
        "config": audit_view(version.config, schema),
    }


def version_entry(
    audit: AuditLog,
    current: ConfigVersion | None,
    stored: ConfigVersion,
    schema: Any,
    before: dict[str, Any] | None = None,
) -> AuditEntry:
    """The audit entry of a new version, by the current context's caller (stored by the write
    together with the version). ``before``: the state of ``current`` when already built (the
    previous entry's ``after`` in a batch), so a document is masked once, not twice."""
    return audit.entry(
        AUDIT_ACTIONS.get(stored.source, f"config.{stored.source}"),
        f"config/{stored.service_name}",
        tenant=stored.tenant_id,
        before=before if before is not None else version_state(current, schema),
        after=version_state(stored, schema),
        details={"author": stored.author, "message": stored.message, "source": stored.source},
    )


async def record_schema(
    audit: AuditLog,
    conn: AsyncConnection,
    *,
    tenant: str,
    service: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    author: str,
) -> None:
    """Record a schema registration in the audit trail, inside its own transaction."""
    await audit.record(
        "config.schema",
        f"config/{service}/schema",
        tenant=tenant,
        before=before,
        after=after,
        details={"author": author},
        conn=conn,
    )

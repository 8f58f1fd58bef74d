"""One configuration write: the next version built on the current one, stored in one transaction.

The current version comes from the memory view (:mod:`centralhub.config.current`) whenever the
view is authoritative for the service, so a write costs the schema read (on PostgreSQL in the
same statement as the cross-replica advisory lock), the insert and the audit record: no read
of the current version. The view can only be behind the database, never ahead of it (it holds
committed versions only), and a version built on a stale copy collides with the stored one on
the unique (tenant, service, revision) constraint: the write is then rebuilt on the version
read from the database. The per-service queue in :class:`~centralhub.config.service.ConfigService`
keeps this replica's writers from colliding with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from centralhub.config import repository
from centralhub.config.documents import check_document, version_for
from centralhub.config.models import ConfigVersion
from centralhub.config.repository import RevisionTaken
from centralhub.core.errors import Conflict, Unavailable

if TYPE_CHECKING:
    from centralhub.config.service import ConfigService

#: how often a write is rebuilt on top of a concurrent writer's version before giving up (503)
WRITE_ATTEMPTS = 8

#: ``make(current) -> document`` builds the new document inside the write transaction
DocumentBuilder = Callable[[ConfigVersion | None], Any]


def _stale(service: str, if_match: int, current_rev: int) -> Conflict:
    return Conflict(
        f"If-Match: revision {if_match} is stale; the current revision of {service!r} is {current_rev}"
    )


async def store_next(
    svc: ConfigService,
    tenant: str,
    service: str,
    make: DocumentBuilder,
    *,
    author: str,
    message: str | None,
    source: str,
    if_match: int | None,
    skip_unchanged: bool,
) -> ConfigVersion | None:
    """The write itself, called with this replica's queue for the service held; ``None`` when
    ``skip_unchanged`` and the document equals the current one."""
    key = (tenant, service)
    from_memory = True
    for _attempt in range(WRITE_ATTEMPTS):
        known = False
        try:
            async with svc.database.engine.begin() as conn:
                schema = await repository.lock_and_get_schema(conn, tenant=tenant, service=service)
                known, current = svc.current.authoritative(key) if from_memory else (False, None)
                if not known:
                    current = await repository.get_latest(conn, tenant=tenant, service=service)
                current_rev = current.revision if current else 0
                if if_match is not None and if_match != current_rev:
                    if known:
                        from_memory = False  # the copy may be behind: compare with the database
                        continue
                    raise _stale(service, if_match, current_rev)
                opened = svc.secrets.opened(current) if current else None
                plain = opened.config if opened else None
                document = make(opened)
                check_document(document, "config")
                if skip_unchanged and current is not None and plain == document:
                    return None
                svc.validator.require_valid(service, document, schema)
                document = svc.secrets.seal(
                    tenant, service, document, schema, stored=current and current.config, plain=plain
                )
                stored = await repository.create(
                    conn,
                    version=ConfigVersion(
                        tenant_id=tenant,
                        service_name=service,
                        revision=current_rev + 1,
                        version=version_for(current_rev + 1),
                        config=document,
                        author=author,
                        created_at=svc.clock(),
                        message=message,
                        source=source,
                    ),
                )
                await svc._audit_version(conn, current, stored, schema)
        except (RevisionTaken, IntegrityError):
            if if_match is not None and not (from_memory and known):
                raise Conflict(
                    f"If-Match: revision {if_match} is stale; {service!r} was changed concurrently"
                ) from None
            from_memory = False  # another writer won the race: rebuild on the stored version
            continue
        await svc._committed(stored)
        return svc.secrets.for_caller(stored)
    raise Unavailable(f"configuration of {service!r} is being changed too often; retry")

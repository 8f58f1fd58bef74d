"""How a stored configuration change is announced on the bus to other replicas and SDK clients.

Kept apart from :class:`~centralhub.config.service.ConfigService` because the message is a wire
contract with the SDK (subject from :func:`~centralhub.core.wire.config_update_subject`, field
names, RFC 3339 time) and carries its own secrecy rule: bus subscribers are not authenticated by
the hub, so a message never carries a secret value.
"""

from __future__ import annotations

import logging
from typing import Any

from centralhub.config.models import ConfigVersion
from centralhub.config.secrets import mask, masked_paths
from centralhub.core.events.base import EventBus
from centralhub.core.time import rfc3339
from centralhub.core.wire import config_update_subject

log = logging.getLogger(__name__)


def update_payload(version: ConfigVersion, *, origin: str) -> dict[str, Any]:
    """The bus message of a new version: secrets masked, and ``masked`` lists the hidden paths,
    so a client that needs them fetches the configuration over HTTP with its credential."""
    hidden = masked_paths(version.config)
    payload: dict[str, Any] = {
        "service_name": version.service_name,
        "tenant_id": version.tenant_id,
        "version": version.version,
        "revision": version.revision,
        "config": mask(version.config) if hidden else version.config,
        "updated_at": rfc3339(version.created_at),
        "updated_by": version.author,
        "origin": origin,
        "global_revision": version.global_revision,
    }
    if hidden:
        payload["masked"] = hidden
    return payload


async def publish_change(bus: EventBus, version: ConfigVersion, *, origin: str) -> bool:
    """Publish a stored version; ``False`` (logged) when the bus refused it. The version is
    stored already, so a failure is not the writer's: watchers catch up through the revision
    check."""
    subject = config_update_subject(version.tenant_id, version.service_name)
    try:
        await bus.publish(subject, update_payload(version, origin=origin))
    except Exception as exc:
        log.warning(
            "config change %s/%s r%d not broadcast: %s",
            version.tenant_id,
            version.service_name,
            version.revision,
            exc,
        )
        return False
    return True

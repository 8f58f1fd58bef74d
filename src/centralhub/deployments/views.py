"""What the deployments API answers with: a deployment and its instances, times in RFC 3339."""

from __future__ import annotations

from typing import Any

from centralhub.core.time import rfc3339
from centralhub.deployments.models import Deployment
from centralhub.registry.models import Instance


def describe(dep: Deployment, live: dict[str, Instance]) -> dict[str, Any]:
    """The public JSON shape, with each instance's status in ``live`` (``gone`` when absent)."""

    def instances(ids: list[str]) -> list[dict[str, Any]]:
        out = []
        for iid in ids:
            inst = live.get(iid)
            out.append(
                {
                    "instance_id": iid,
                    "status": inst.status.value if inst is not None else "gone",
                    "version": inst.version if inst is not None else None,
                    "url": inst.url if inst is not None else None,
                }
            )
        return out

    return {
        "id": dep.id,
        "tenant_id": dep.tenant_id,
        "service": dep.service,
        "version": dep.version,
        "strategy": dep.strategy,
        "batch_size": dep.batch_size,
        "deadline_seconds": dep.deadline_seconds,
        "drain_seconds": dep.drain_seconds,
        "state": dep.state.value,
        "progress": {"batches_done": dep.batches_done, "batches_total": len(dep.batches)},
        "batches": [
            {
                "index": b.index,
                "state": b.state.value,
                "instances": instances(b.instance_ids),
                "replacements": instances(b.replacement_ids),
                "started_at": rfc3339(b.started_at),
                "finished_at": rfc3339(b.finished_at),
                "error": b.error,
            }
            for b in dep.batches
        ],
        "created_at": rfc3339(dep.created_at),
        "started_at": rfc3339(dep.started_at),
        "finished_at": rfc3339(dep.finished_at),
        "error": dep.error,
        "owner": dep.owner,
        "lease_expires_at": rfc3339(dep.lease_expires_at),
        "cancel_requested_at": rfc3339(dep.cancel_requested_at),
        "retire_at": rfc3339(dep.retire_at),
    }

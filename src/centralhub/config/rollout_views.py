"""A rollout as the API, the CLI and the dashboard show it."""

from __future__ import annotations

from typing import Any

from centralhub.config.rollout_models import Rollout
from centralhub.core.errors import NotFound
from centralhub.core.time import rfc3339

__all__ = ["describe"]


def _canary(
    rollout: Rollout, instance_id: str, report: dict[str, Any] | None, registry: Any
) -> dict[str, Any]:
    try:
        inst = registry.get_instance(rollout.tenant_id, rollout.service, instance_id)
        status, url = inst.status.value, inst.url
    except NotFound:
        status, url = "gone", None
    report = report or {}
    applied = report.get("applied_revision")
    checked = rollout.last_checks.get(instance_id, {})
    return {
        "instance_id": instance_id,
        "url": url,
        "status": status,
        "applied_revision": applied,
        "outcome": report.get("outcome", "unknown"),
        "error": report.get("error"),
        "reported_at": report.get("reported_at"),
        "runs_candidate": applied == rollout.revision and report.get("outcome") == "applied",
        "last_probe": checked.get("probe"),
        "checked_at": checked.get("checked_at"),
    }


def describe(
    rollout: Rollout, reports: dict[str, dict[str, Any]], registry: Any, *, now: float
) -> dict[str, Any]:
    """``GET /api/v1/config/{service}/rollout``: state, reason, the canary set and what each
    canary reports; ``remaining_seconds`` of the bake while it bakes."""
    return {
        "rollout_id": rollout.id,
        "service": rollout.service,
        "tenant_id": rollout.tenant_id,
        "state": rollout.state.value,
        "reason": rollout.reason,
        "held_reason": rollout.held_reason,
        "revision": rollout.revision,
        "version": rollout.version,
        "base_revision": rollout.base_revision,
        "promoted_revision": rollout.promoted_revision,
        "canary": rollout.canary,
        "selector": rollout.selector,
        "bake_seconds": rollout.bake_seconds,
        "canary_check_seconds": rollout.check_seconds,
        "auto_rollback": rollout.auto_rollback,
        "author": rollout.author,
        "message": rollout.message,
        "created_at": rfc3339(rollout.created_at),
        "bake_until": rfc3339(rollout.bake_until),
        "remaining_seconds": round(max(0.0, rollout.bake_until - now), 1) if rollout.active else 0.0,
        "finished_at": rfc3339(rollout.finished_at),
        "owner": rollout.owner,
        "canaries": [_canary(rollout, i, reports.get(i), registry) for i in rollout.canary],
    }

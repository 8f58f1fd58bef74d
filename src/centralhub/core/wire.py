"""Rules the hub and the SDK must apply identically: names, NATS subjects, selection, merging.

Both sides import this module, so a rule changed here changes for both; it imports nothing but
the standard library, so the SDK can use it without the hub's dependencies.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

DEFAULT_TENANT = "default"

#: service names: what fits in a NATS subject token, a URL segment and a DNS label
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
NAME_RE = re.compile(NAME_PATTERN)
TENANT_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TENANT_RE = re.compile(TENANT_PATTERN)


def is_service_name(name: str) -> bool:
    """Whether ``name`` can name a service (whole-string match, so no trailing newline)."""
    return NAME_RE.fullmatch(name) is not None


def is_tenant(name: str) -> bool:
    return TENANT_RE.fullmatch(name) is not None


# ---------------------------------------------------------------------- NATS subjects
#: the cluster name hubs and clients use when nothing else is configured
DEFAULT_CLUSTER = "centralhub"
CLUSTER_RE = TENANT_RE


def is_cluster_name(name: str) -> bool:
    """Whether ``name`` can be a cluster name: exactly one NATS subject token."""
    return CLUSTER_RE.fullmatch(name) is not None


def split_servers(urls: str | None) -> list[str]:
    """A comma-separated server list (``NATS_URL``) as a list, blanks dropped."""
    if not urls:
        return []
    return [u.strip() for u in urls.split(",") if u.strip()]


def cluster_subject(cluster: str, subject: str) -> str:
    """The subject as it travels on NATS: every hub subject sits under its cluster's name."""
    return f"{cluster}.{subject}"


def strip_cluster(cluster: str, subject: str) -> str:
    """The hub-level subject of a message received on NATS (inverse of :func:`cluster_subject`)."""
    prefix = cluster + "."
    return subject[len(prefix) :] if subject.startswith(prefix) else subject


def config_update_subject(tenant: str, service: str) -> str:
    """Where a change of ``service``'s configuration is broadcast (the default tenant keeps the
    short form existing subscribers use)."""
    if tenant == DEFAULT_TENANT:
        return f"config.update.{service}"
    return f"tenant.{tenant}.config.update.{service}"


def config_instance_subject(tenant: str, service: str, instance_id: str) -> str:
    """Where the hub tells one instance which configuration to run when it differs from the
    service's (a canary rollout): only that instance's client listens there."""
    if tenant == DEFAULT_TENANT:
        return f"config.instance.{service}.{instance_id}"
    return f"tenant.{tenant}.config.instance.{service}.{instance_id}"


#: rollout state changes between hub replicas (each refreshes its view of active rollouts)
CONFIG_ROLLOUTS_SUBJECT = "hubsync.config.rollouts"


def registry_subject(tenant: str, kind: str) -> str:
    """Registry change events of one tenant: ``kind`` is upserted, removed or status."""
    return f"registry.{tenant}.{kind}"


def registry_tenant_filter(tenant: str) -> str:
    """What a client subscribes to for every registry change of its tenant."""
    return f"registry.{tenant}.>"


#: heartbeat batches from every tenant, shared between hub replicas
REGISTRY_HEARTBEATS_SUBJECT = "registry.all.heartbeats"
#: every registry event of every tenant, heartbeat batches included (what a hub replica follows)
REGISTRY_ALL_SUBJECTS = "registry.>"


def contracts_subject(tenant: str) -> str:
    """Where a change of one of ``tenant``'s message contracts is announced to hub replicas."""
    return f"contracts.{tenant}.changed"


#: every contract change of every tenant (what a hub replica follows)
CONTRACTS_ALL_SUBJECTS = "contracts.>"


def deployments_subject(tenant: str, service: str) -> str:
    """Where each step of a deployment of ``service`` is published."""
    return f"deployments.{tenant}.{service}"


#: each stored step of any deployment as hub replicas exchange it (the full record, not the public shape)
DEPLOYMENT_RECORDS_SUBJECT = "hubsync.deployments"


#: the subject token of alerts and silences that belong to no tenant (global infrastructure ones)
GLOBAL_TOKEN = "_global"


def alerts_subject(tenant: str | None) -> str:
    """Where hub replicas announce a stored change of ``tenant``'s alerts or silences (raised,
    acknowledged, silence added or ended); ``None``: the global ones."""
    return f"alerts.{tenant or GLOBAL_TOKEN}.changed"


#: every alert and silence change of every tenant (what a hub replica follows)
ALERTS_ALL_SUBJECTS = "alerts.*.changed"


def circuits_subject(tenant: str) -> str:
    """Where hub replicas announce a stored change of one of ``tenant``'s circuits."""
    return f"circuits.{tenant}.changed"


#: every circuit change of every tenant (what a hub replica follows)
CIRCUITS_ALL_SUBJECTS = "circuits.*.changed"


# ---------------------------------------------------------------------- endpoint selection
STRATEGIES = ("round_robin", "random", "least_load", "weighted")

T = TypeVar("T")


def choose(
    candidates: Sequence[T],
    strategy: str,
    *,
    turn: int,
    load: Callable[[T], float],
    weight: Callable[[T], float],
) -> T:
    """Pick one of ``candidates`` (already ordered by instance id, never empty).

    ``turn`` is the caller's counter for this service, advanced after every choice whatever the
    strategy; ``least_load`` breaks ties among equally loaded candidates by taking turns, so a
    burst of requests spreads over them.
    """
    if strategy == "round_robin":
        return candidates[turn % len(candidates)]
    if strategy == "random":
        return random.choice(candidates)
    if strategy == "weighted":
        return random.choices(candidates, weights=[max(weight(c), 0) or 1 for c in candidates])[0]
    if strategy == "least_load":
        least = min(load(c) for c in candidates)
        tied = [c for c in candidates if load(c) == least]
        return tied[turn % len(tied)]
    raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


# ---------------------------------------------------------------------- documents
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge where ``overrides`` wins; unlike a merge patch ``None`` is kept as a value.

    Returns a new document; neither argument is changed (or shared with the result)."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


#: metrics one heartbeat may carry
MAX_METRICS = 100


def check_metrics(raw: Any) -> dict[str, float]:
    """A heartbeat's ``metrics`` (measurements for the hub's alert rules): names of letters,
    digits, ``_ . : -`` (at most 128), finite numbers; ``ValueError`` naming the first wrong one."""
    if not isinstance(raw, Mapping):
        raise ValueError("metrics: an object of name -> number is required")
    if len(raw) > MAX_METRICS:
        raise ValueError(f"metrics: at most {MAX_METRICS} per heartbeat (got {len(raw)})")
    out: dict[str, float] = {}
    for name, value in raw.items():
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= 128
            or not all(c.isalnum() or c in "_.:-" for c in name)
        ):
            raise ValueError(f"metrics: {str(name)[:40]!r} is not a metric name (letters, digits, _ . : -)")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metrics.{name}: a finite number is required (got {value!r})")
        out[name] = float(value)
    return out

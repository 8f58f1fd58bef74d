"""Alert rules on measurements, as stored and as a request gives them.

A rule names a ``metric`` (``check_latency_ms`` from the hub's own health checks, or anything
services report with their heartbeats: ``latency_ms``, ``error_rate``, ``errors``,
``trading_volume``...), the ``service`` it watches (``*``: every service), a ``condition``
(``above`` or ``below`` a ``threshold``, or ``rate_above``: a counter rising faster than
``threshold`` per second, which is how an error spike shows), whether it judges each instance
or the service as a whole (``per``: ``instance`` or ``service``, where the service's value is the
mean of its instances' latest values, or the sum of their rates), and how long the condition must
hold (``for_seconds``) before the alert is raised, over samples of the last ``window_seconds``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.errors import InvalidInput
from centralhub.core.tables import alert_rules as t
from centralhub.core.time import to_datetime

__all__ = ["CONDITIONS", "MetricRule", "parse_rule"]

CONDITIONS = ("above", "below", "rate_above")
PER = ("instance", "service")
SEVERITIES = ("warning", "critical")
FIELDS = {
    "name",
    "metric",
    "service",
    "condition",
    "threshold",
    "for_seconds",
    "window_seconds",
    "per",
    "severity",
    "description",
}


@dataclass(frozen=True, slots=True)
class MetricRule:
    id: str
    tenant_id: str
    name: str
    metric: str
    service: str
    condition: str
    threshold: float
    for_seconds: float = 0.0
    window_seconds: float = 60.0
    per: str = "instance"
    severity: str = "warning"
    description: str | None = None

    def spec(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("id", "tenant_id", "name")}

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def _name(value: Any, field: str, *, star: bool = False) -> str:
    if star and value == "*":
        return "*"
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 128
        or not all(c.isalnum() or c in "_.:-" for c in value)
    ):
        raise InvalidInput(
            f"{field}: letters, digits, '_', '.', ':' or '-', at most 128 (got {str(value)[:40]!r})"
        )
    return value


def _number(body: dict[str, Any], field: str, default: float | None, low: float, high: float) -> float:
    value = body.get(field, default)
    if value is None:
        raise InvalidInput(f"{field}: required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(f"{field}: a number from {low:g} to {high:g} is required (got {value!r})")
    return float(value)


def _choice(body: dict[str, Any], field: str, default: str, allowed: tuple[str, ...]) -> str:
    value = body.get(field, default)
    if value not in allowed:
        raise InvalidInput(f"{field}: one of {', '.join(allowed)} (got {value!r})")
    return str(value)


def parse_rule(body: Any, tenant: str) -> MetricRule:
    """A rule from a request body, or ``InvalidInput`` naming the field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput("body: a JSON object is required")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field (known: {', '.join(sorted(FIELDS))})")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise InvalidInput("description: a string of at most 500 characters")
    return MetricRule(
        id=uuid.uuid4().hex,
        tenant_id=tenant,
        name=_name(body.get("name"), "name"),
        metric=_name(body.get("metric"), "metric"),
        service=_name(body.get("service", "*"), "service", star=True),
        condition=_choice(body, "condition", "above", CONDITIONS),
        threshold=_number(body, "threshold", None, -1e18, 1e18),
        for_seconds=_number(body, "for_seconds", 0.0, 0, 86400),
        window_seconds=_number(body, "window_seconds", 60.0, 1, 900),
        per=_choice(body, "per", "instance", PER),
        severity=_choice(body, "severity", "warning", SEVERITIES),
        description=description,
    )


def _rule(row: Any) -> MetricRule:
    return MetricRule(id=row["id"], tenant_id=row["tenant_id"], name=row["name"], **row["spec"])


async def create(conn: AsyncConnection, rule: MetricRule, *, now: float) -> None:
    await conn.execute(
        insert(t).values(
            id=rule.id,
            tenant_id=rule.tenant_id,
            name=rule.name,
            spec=rule.spec(),
            created_at=to_datetime(now),
        )
    )


async def all_rules(conn: AsyncConnection, tenant: str | None = None) -> list[MetricRule]:
    query = select(t).order_by(t.c.tenant_id, t.c.name)
    if tenant is not None:
        query = query.where(t.c.tenant_id == tenant)
    return [_rule(row) for row in (await conn.execute(query)).mappings()]


async def remove(conn: AsyncConnection, tenant: str, rule_id: str) -> bool:
    result = await conn.execute(delete(t).where(t.c.tenant_id == tenant, t.c.id == rule_id))
    return bool(result.rowcount)

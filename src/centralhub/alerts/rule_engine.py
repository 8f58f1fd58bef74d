"""Alert rules on measurements, evaluated every ``interval`` seconds on this replica's samples.

A subject (an instance, or the service for ``per: service``) that meets the rule's condition
for ``for_seconds`` raises one alert (kind ``metric``, event = the rule's name) through the
alert manager, so dedup, rate limits, silences and channels apply as to any alert; when the
condition ends, a ``recovery`` alert says so. Rules are stored in the hub's database, so every
replica evaluates the same ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from centralhub.alerts import metric_rules as rules_store
from centralhub.alerts.measurements import Measurements
from centralhub.alerts.metric_rules import MetricRule, parse_rule
from centralhub.core.errors import Conflict, NotFound

__all__ = ["MetricRuleEngine"]

log = logging.getLogger(__name__)
TASK = "alert-rules"


def _rate(points: list[tuple[float, float]]) -> float | None:
    """A counter's increase per second over ``points`` (a reset counts from zero)."""
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    rise = 0.0
    for (_t0, v0), (_t1, v1) in zip(points, points[1:], strict=False):
        rise += v1 - v0 if v1 >= v0 else v1
    return rise / (points[-1][0] - points[0][0])


def values_of(
    rule: MetricRule, measurements: Measurements, now: float
) -> dict[tuple[str, str | None], float]:
    """(service, instance or None) -> the value the rule judges."""
    per_instance: dict[tuple[str, str | None], float] = {}
    for subject, points in measurements.series(
        rule.tenant_id, rule.service, rule.metric, now - rule.window_seconds
    ):
        service, _, instance = subject.partition("/")
        value = _rate(points) if rule.condition == "rate_above" else points[-1][1]
        if value is not None:
            per_instance[(service, instance)] = value
    if rule.per == "instance":
        return per_instance
    grouped: dict[str, list[float]] = {}
    for (service, _instance), value in per_instance.items():
        grouped.setdefault(service, []).append(value)
    combine: Callable[[list[float]], float] = (
        sum if rule.condition == "rate_above" else (lambda v: sum(v) / len(v))
    )
    return {(service, None): combine(values) for service, values in grouped.items()}


def breached(rule: MetricRule, value: float) -> bool:
    return value < rule.threshold if rule.condition == "below" else value > rule.threshold


class MetricRuleEngine:
    def __init__(
        self,
        database: Any,
        alerts: Any,
        measurements: Measurements,
        supervisor: Any,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.alerts = alerts
        self.measurements = measurements
        self.supervisor = supervisor
        self.interval = interval
        self.clock = clock
        #: (rule id, service, instance) -> when the condition began to hold
        self._since: dict[tuple[str, str, str | None], float] = {}
        #: subjects whose alert is raised and not yet recovered
        self._firing: dict[tuple[str, str, str | None], float] = {}

    async def start(self) -> None:
        self.supervisor.start(TASK, self._run)

    async def stop(self) -> None:
        await self.supervisor.stop(TASK)

    # ---------------------------------------------------------------- the rules
    async def create(self, tenant: str, body: Any) -> MetricRule:
        rule = parse_rule(body, tenant)
        try:
            async with self.database.engine.begin() as conn:
                await rules_store.create(conn, rule, now=self.clock())
        except IntegrityError:
            raise Conflict(f"an alert rule named {rule.name!r} exists already: delete it first") from None
        return rule

    async def rules(self, tenant: str | None = None) -> list[MetricRule]:
        async with self.database.engine.connect() as conn:
            return await rules_store.all_rules(conn, tenant)

    async def remove(self, tenant: str, rule_id: str) -> None:
        async with self.database.engine.begin() as conn:
            if not await rules_store.remove(conn, tenant, rule_id):
                raise NotFound(f"no alert rule {rule_id!r}")

    # ---------------------------------------------------------------- evaluation
    async def _run(self) -> None:
        while True:
            try:
                await self.evaluate()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next pass tries again
                log.warning("alert rule evaluation failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def evaluate(self) -> list[dict[str, Any]]:
        """One pass over every rule; what it raised (alerts and recoveries)."""
        now = self.clock()
        raised: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str | None]] = set()
        for rule in await self.rules():
            for (service, instance), value in values_of(rule, self.measurements, now).items():
                key = (rule.id, service, instance)
                seen.add(key)
                if breached(rule, value):
                    since = self._since.setdefault(key, now)
                    if now - since >= rule.for_seconds and key not in self._firing:
                        self._firing[key] = value
                        raised.append(await self._alert(rule, service, instance, value, now - since))
                else:
                    self._since.pop(key, None)
                    if self._firing.pop(key, None) is not None:
                        raised.append(await self._recovered(rule, service, instance, value))
        for key in [k for k in self._since if k not in seen]:
            del self._since[key]  # no samples any more: the condition cannot be said to hold
        for key in [k for k in self._firing if k not in seen]:
            del self._firing[key]
        self.measurements.prune()
        return raised

    def _words(self, rule: MetricRule) -> str:
        if rule.condition == "rate_above":
            return f"rising faster than {rule.threshold:g}/s"
        return f"{rule.condition} {rule.threshold:g}"

    async def _alert(
        self, rule: MetricRule, service: str, instance: str | None, value: float, held: float
    ) -> dict[str, Any]:
        who = f"{service}/{instance}" if instance else service
        message = f"{rule.metric} of {who} is {value:.4g}, {self._words(rule)}"
        if rule.for_seconds:
            message += f" for {held:.0f}s"
        details = {
            "rule_id": rule.id,
            "rule": rule.name,
            "metric": rule.metric,
            "value": value,
            "threshold": rule.threshold,
        }
        await self.alerts.raise_alert(
            kind="metric",
            target=service,
            event=rule.name,
            message=f"{message} (rule {rule.name})",
            tenant_id=rule.tenant_id,
            instance_id=instance,
            critical=rule.severity == "critical",
            details={**details, "condition": rule.condition, "per": rule.per},
        )
        return {
            "rule": rule.name,
            "service": service,
            "instance_id": instance,
            "value": value,
            "event": rule.name,
        }

    async def _recovered(
        self, rule: MetricRule, service: str, instance: str | None, value: float
    ) -> dict[str, Any]:
        who = f"{service}/{instance}" if instance else service
        await self.alerts.raise_alert(
            kind="metric",
            target=service,
            event="recovery",
            message=f"{rule.metric} of {who} is {value:.4g} again (rule {rule.name})",
            tenant_id=rule.tenant_id,
            instance_id=instance,
            details={"rule_id": rule.id, "rule": rule.name, "metric": rule.metric, "value": value},
        )
        return {
            "rule": rule.name,
            "service": service,
            "instance_id": instance,
            "value": value,
            "event": "recovery",
        }

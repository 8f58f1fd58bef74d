"""The ``alerts`` section of ``infrastructure.yaml``, validated by a Pydantic model.

Errors name the path (``alerts.rules[0].severity: ...``) and are raised as :class:`InvalidInput`,
so a bad file stops ``centralhub serve`` with one line.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from centralhub.alerts.models import AlertRule
from centralhub.core.errors import InvalidInput

#: at most this many field errors go into the one-line message
_MAX_ERRORS = 3
_MODEL_NAME = re.compile(r" or instance of \w+")


def validation_message(exc: ValidationError, *, prefix: str = "") -> str:
    """``path.to[0].field: what is wrong`` for each error (a few at most), on one line."""
    parts = []
    for err in exc.errors()[:_MAX_ERRORS]:
        path = prefix
        for loc in err["loc"]:
            if isinstance(loc, int):
                path += f"[{loc}]"
            else:
                path += f".{loc}" if path else str(loc)
        # the model class names mean nothing to whoever edits the file
        msg = _MODEL_NAME.sub("", str(err["msg"]).removeprefix("Value error, "))
        parts.append(f"{path or '(top level)'}: {msg}")
    more = len(exc.errors()) - _MAX_ERRORS
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


def _default_channels() -> list[str | dict[str, Any]]:
    return ["log"]


class RuleConfig(BaseModel):
    """One severity rule; the first rule matching an alert sets its severity."""

    severity: Literal["info", "warning", "critical"]
    target: str = "*"
    kind: Literal["service", "infrastructure"] | None = None
    event: Literal["down", "recovery"] | None = None
    critical: bool | None = None

    def to_rule(self) -> AlertRule:
        return AlertRule(
            severity=self.severity,
            target=self.target,
            kind=self.kind,
            event=self.event,
            critical=self.critical,
        )


class RateLimitConfig(BaseModel):
    max_alerts: int = Field(10, ge=0, description="sends per target per window; beyond are suppressed")
    window_seconds: float = Field(600.0, gt=0)


class AlertsConfig(BaseModel):
    """Alert settings. Channel settings (``webhook``, ``email``, inline mappings) are read by
    :func:`centralhub.alerts.channels.build_channels`, so unknown keys are kept for it."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    channels: list[str | dict[str, Any]] = Field(default_factory=_default_channels)
    dedup_window_seconds: float = Field(300.0, ge=0)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    rules: list[RuleConfig] = Field(default_factory=list)
    #: one channel may take this long per alert before it counts as failed
    delivery_timeout_seconds: float = Field(60.0, gt=0)

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit(cls, value: Any) -> Any:
        return _none_is_empty(value)

    @field_validator("rules", "channels", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return [] if value is None else value

    def raw(self) -> dict[str, Any]:
        """The section as a plain mapping (what :func:`build_channels` reads)."""
        return self.model_dump()


def parse_alerts_config(raw: Any, *, source: str | None = None) -> AlertsConfig:
    """Validate an ``alerts`` mapping; ``InvalidInput`` names the field (and ``source`` when given)."""
    try:
        return AlertsConfig.model_validate(_none_is_empty(raw))
    except ValidationError as exc:
        where = f"{source}: " if source else ""
        raise InvalidInput(where + validation_message(exc, prefix="alerts")) from None

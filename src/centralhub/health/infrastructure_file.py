"""``infrastructure.yaml``: the components the hub monitors, validated by a Pydantic model.

File layout::

    databases:  {name: component, ...}
    messaging:  {name: component, ...}
    search:     {name: component, ...}
    service_dependencies: {service: {requires: [names]}}   # or {service: [names]}
    alerts: {...}                                          # see centralhub.alerts.settings

    component:  type, host, port, critical (false), description, dependencies: [names],
                health_check: {method, timeout (5), interval (30), endpoint, url, url_env, port,
                               failures_before_unhealthy (1)}

``type`` is one of ``TYPES`` (guessed from the name when absent: ``nats-1`` -> nats,
``dragonflydb`` -> redis). ``method`` defaults per type (``DEFAULT_METHOD``). ``url`` is the
connection string for ``postgres``/``redis_ping``/``nats`` (built from host/port when absent;
``url_env`` names an environment variable holding it instead, to keep secrets out of the file).
Unknown keys are ignored: the same file is also a layer of the hub's own configuration.

Errors name the path in the file (``databases.postgres.port: ...``) and are raised as
:class:`InvalidInput`, one line for all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from centralhub.alerts.settings import parse_alerts_config, validation_message
from centralhub.core.errors import InvalidInput
from centralhub.health.models import ComponentConfig, InfrastructureFile

__all__ = ["InfrastructureFile", "load_infrastructure_file", "parse_infrastructure"]

SECTIONS = ("databases", "messaging", "search")
TYPES = ("postgres", "redis", "nats", "kafka", "zookeeper", "clickhouse", "arangodb", "weaviate")
METHODS = ("http", "tcp", "redis_ping", "postgres", "nats", "kafka_admin")
TYPE_ALIASES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "timescale": "postgres",
    "dragonfly": "redis",
    "dragonflydb": "redis",
    "redis": "redis",
    "nats": "nats",
    "kafka": "kafka",
    "zookeeper": "zookeeper",
    "clickhouse": "clickhouse",
    "arango": "arangodb",
    "arangodb": "arangodb",
    "weaviate": "weaviate",
}
DEFAULT_METHOD = {
    "postgres": "postgres",
    "redis": "redis_ping",
    "nats": "nats",
    "kafka": "kafka_admin",
    "zookeeper": "tcp",
    "clickhouse": "http",
    "arangodb": "http",
    "weaviate": "http",
}
DEFAULT_ENDPOINT = {"clickhouse": "/ping", "arangodb": "/_api/version", "weaviate": "/v1/.well-known/ready"}

Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Seconds = Annotated[float, Field(strict=True, gt=0)]


def _empty_mapping(value: Any) -> Any:
    return {} if value is None else value


class HealthCheckSpec(BaseModel):
    method: str | None = None
    timeout: Seconds = 5.0
    interval: Seconds = 30.0
    endpoint: str | None = None
    url: str | None = None
    url_env: str | None = None
    port: Port | None = None
    failures_before_unhealthy: Annotated[int, Field(strict=True, ge=1)] = 1

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None and value not in METHODS:
            raise ValueError(f"{value!r} is not one of {', '.join(METHODS)}")
        return value


class ComponentSpec(BaseModel):
    #: the key in its section; filled in before validation so ``type`` can be guessed from it
    name: str
    type: str = Field("", validate_default=True)
    host: Annotated[str, Field(min_length=1, description="a hostname or IP address")]
    port: Port
    critical: bool = False
    description: str = ""
    dependencies: list[str] = Field(default_factory=list)
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any, info: ValidationInfo) -> str:
        raw = str(value or "").lower()
        if not raw:
            name = str(info.data.get("name", "")).lower()
            raw = next((t for alias, t in TYPE_ALIASES.items() if alias in name), "")
        resolved = TYPE_ALIASES.get(raw, raw)
        if resolved not in TYPES:
            raise ValueError(f"{raw or '(missing)'!r} is not one of {', '.join(TYPES)}")
        return resolved

    @field_validator("health_check", "dependencies", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return [] if info.field_name == "dependencies" else {}
        return value

    def to_config(self, section: str) -> ComponentConfig:
        hc = self.health_check
        method = hc.method or DEFAULT_METHOD[self.type]
        url = hc.url
        if hc.url_env:
            url = os.environ.get(hc.url_env) or url
        if url is None:
            url = {
                "postgres": f"postgresql://postgres@{self.host}:{self.port}/postgres",
                "redis_ping": f"redis://{self.host}:{self.port}/0",
                "nats": f"nats://{self.host}:{self.port}",
                "kafka_admin": f"{self.host}:{self.port}",
            }.get(method)
        return ComponentConfig(
            name=self.name,
            type=self.type,
            host=self.host,
            port=hc.port if hc.port is not None else self.port,
            method=method,
            timeout=hc.timeout,
            interval=hc.interval,
            critical=self.critical,
            description=self.description,
            dependencies=list(self.dependencies),
            endpoint=hc.endpoint or DEFAULT_ENDPOINT.get(self.type),
            url=url,
            failures_before_unhealthy=hc.failures_before_unhealthy,
            section=section,
        )


class ServiceRequires(BaseModel):
    requires: list[str] = Field(default_factory=list)


class InfrastructureDocument(BaseModel):
    """The whole file; ``alerts`` is checked by :func:`parse_alerts_config` afterwards."""

    databases: dict[str, ComponentSpec] = Field(default_factory=dict)
    messaging: dict[str, ComponentSpec] = Field(default_factory=dict)
    search: dict[str, ComponentSpec] = Field(default_factory=dict)
    service_dependencies: dict[str, ServiceRequires] = Field(default_factory=dict)
    alerts: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, doc: Any) -> Any:
        if not isinstance(doc, dict):
            return doc  # the model reports "Input should be a valid dictionary"
        doc = dict(doc)
        for key in (*SECTIONS, "service_dependencies", "alerts"):
            doc[key] = _empty_mapping(doc.get(key))
        for section in SECTIONS:
            entries = doc[section]
            if isinstance(entries, dict):
                # each component learns its own name (its key), so ``type`` can be guessed from it
                doc[section] = {
                    str(name): {**_empty_mapping(spec), "name": str(name)}
                    if isinstance(_empty_mapping(spec), dict)
                    else spec
                    for name, spec in entries.items()
                }
        deps = doc["service_dependencies"]
        if isinstance(deps, dict):
            # ``service: [names]`` is shorthand for ``service: {requires: [names]}``
            doc["service_dependencies"] = {
                str(k): {"requires": v} if isinstance(v, list) or v is None else v for k, v in deps.items()
            }
        return doc


def parse_infrastructure(doc: Any, *, source: str = "infrastructure.yaml") -> InfrastructureFile:
    """Validate an already-loaded document (see the module docstring for the layout)."""
    try:
        parsed = InfrastructureDocument.model_validate(doc)
    except ValidationError as exc:
        raise InvalidInput(f"{source}: {validation_message(exc)}") from None
    out = InfrastructureFile(source=source)
    for section in SECTIONS:
        for name, spec in getattr(parsed, section).items():
            if name in out.components:
                raise InvalidInput(f"{source}: {section}.{name}: the name is used twice")
            out.components[name] = spec.to_config(section)
    out.service_dependencies = {s: list(r.requires) for s, r in parsed.service_dependencies.items()}
    parse_alerts_config(parsed.alerts, source=source)
    out.alerts = parsed.alerts
    return out


def load_infrastructure_file(path: str | os.PathLike[str] | None) -> InfrastructureFile:
    """Read and validate ``path``; ``None`` means no components. Errors name the file and field."""
    if path is None:
        return InfrastructureFile()
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"INFRASTRUCTURE_FILE: cannot read {str(p)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"INFRASTRUCTURE_FILE: {str(p)!r} is not valid YAML: {exc}") from None
    return parse_infrastructure(doc or {}, source=str(p))

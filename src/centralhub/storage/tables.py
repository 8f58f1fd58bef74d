"""The schema, as SQLAlchemy Core tables; Alembic migrations create the same thing."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

service_instances = Table(
    "service_registry",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("service_name", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("health_endpoint", String(1024)),
    Column("version", String(64)),
    Column("metadata", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("transport_preferences", JSON, nullable=False),
    Column("contract_validated", Boolean, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("ttl_seconds", Integer, nullable=False),
    Column("dependencies", JSON, nullable=False),
    Column("check_spec", JSON),
    UniqueConstraint("tenant_id", "service_name", "host", "port", name="uq_registry_endpoint"),
    Index("ix_registry_tenant_service", "tenant_id", "service_name"),
)

#: one current JSON Schema contract per service (domain/contracts.py)
service_contracts = Table(
    "service_contracts",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("service_name", String(255), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("schemas", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# ---------------------------------------------------------------- deployments (issue 4.6)
#: rolling deployments; ``detail`` holds the batches, baseline ids and the deadline
deployments = Table(
    "deployments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(128), nullable=False),
    Column("service_name", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", String(2000)),
    Column("detail", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_deployments_tenant_created", "tenant_id", "created_at"),
)

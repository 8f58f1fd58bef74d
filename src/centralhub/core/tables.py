"""The schema, as SQLAlchemy Core tables; the Alembic migrations create the same thing.

``tests/core/test_schema.py`` compares a migrated database with these tables on SQLite and
PostgreSQL, so a change here needs a migration (and the other way round).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

metadata = MetaData()

#: the rows the one-active-deployment-per-service index covers
ACTIVE_DEPLOYMENT = "state IN ('pending', 'running')"
#: a configuration rollout that still holds its canaries apart from the other instances
ACTIVE_ROLLOUT = "state IN ('baking', 'promoting')"

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

# ---------------------------------------------------------------- configuration
#: every stored configuration version; rows are never updated, the newest revision is current
config_versions = Table(
    "config_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(128), nullable=False),
    Column("service_name", String(255), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("config", JSON, nullable=False),
    Column("author", String(255), nullable=False),
    Column("message", String(2000)),
    Column("source", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "service_name", "revision", name="uq_config_revision"),
)

#: the JSON Schema each change of a service's configuration must satisfy
config_schemas = Table(
    "config_schemas",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("service_name", String(255), primary_key=True),
    Column("json_schema", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(255), nullable=False),
)

#: one current JSON Schema contract per service (centralhub.contracts)
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

# ---------------------------------------------------------------- deployments
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
    #: the hub replica running the deployment, and until when its claim holds unless renewed
    Column("owner", String(64)),
    Column("lease_expires_at", DateTime(timezone=True)),
    #: set by a cancel on any replica; the owner (or whoever adopts it) does the cancelling
    Column("cancel_requested_at", DateTime(timezone=True)),
    #: after success: when the replaced instances are deregistered (null once done)
    Column("retire_at", DateTime(timezone=True)),
    Index("ix_deployments_tenant_created", "tenant_id", "created_at"),
    # at most one active deployment per service, whichever replica is asked
    Index(
        "ux_deployments_active_service",
        "tenant_id",
        "service_name",
        unique=True,
        sqlite_where=text(ACTIVE_DEPLOYMENT),
        postgresql_where=text(ACTIVE_DEPLOYMENT),
    ),
)

#: alert history: one row per alert; repeats within the dedup window bump ``count``
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(128)),
    Column("kind", String(32), nullable=False),
    Column("target", String(255), nullable=False),
    Column("instance_id", String(64)),
    Column("event", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", String(2000), nullable=False),
    Column("dependents", JSON, nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("count", Integer, nullable=False),
    Column("acknowledged", Boolean, nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(255)),
    Column("silenced", Boolean, nullable=False),
    Column("suppressed", Boolean, nullable=False),
    Column("deliveries", JSON, nullable=False),
    Index("ix_alerts_created", "created_at"),
    Index("ix_alerts_target", "target"),
)

#: alert silences: alerts whose target matches ``target`` (a glob) are recorded but not sent
alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(128)),
    Column("target", String(255), nullable=False),
    Column("reason", String(1000)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)

#: API keys: only a SHA-256 hash of each key is stored; ``name`` is how operators refer to it
api_keys = Table(
    "api_keys",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("tenant_id", String(128)),
    Column("services", JSON),
    Column("rate_limit_per_minute", Integer),
    Column("created_by", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

#: who changed what, when and from where; before/after where the change has them
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("address", String(64)),
    Column("tenant_id", String(128)),
    Column("action", String(64), nullable=False),
    Column("resource", String(255), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("details", JSON),
    Index("ix_audit_at", "at"),
    Index("ix_audit_actor", "actor"),
    Index("ix_audit_resource", "resource"),
)

#: the open alert of each (kind, tenant, target, instance, event) (a SHA-256) within its dedup window: the
#: primary key is what keeps two replicas from raising (and sending) the same alert twice
alert_open_keys = Table(
    "alert_open_keys",
    metadata,
    Column("open_key", String(64), primary_key=True),
    Column("alert_id", String(32), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

#: per-service circuit state, shared by every replica; ``version`` orders the copies replicas exchange
circuits = Table(
    "circuits",
    metadata,
    Column("tenant_id", String(128), primary_key=True),
    Column("service_name", String(255), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("half_open_successes", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True)),
    Column("last_failure_at", DateTime(timezone=True)),
    Column("last_error", String(500)),
    Column("reason", String(500)),
    Column("successes_reported", Integer, nullable=False),
    Column("failures_reported", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

#: hub replicas alive now: each renews its lease while it runs and deletes its row when it stops;
#: a row whose lease has lapsed belongs to a replica that died
hub_replicas = Table(
    "hub_replicas",
    metadata,
    Column("replica_id", String(64), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("lease_expires_at", DateTime(timezone=True), nullable=False),
)

#: the key/value store of the Consul-compatible API: keys per tenant (Consul namespace), values
#: as given (bytes), and Consul's indexes: ``modify_index`` only grows, which is what a
#: check-and-set compares
consul_kv = Table(
    "consul_kv",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", LargeBinary, nullable=True),
    Column("flags", BigInteger, nullable=False, server_default="0"),
    Column("create_index", BigInteger, nullable=False),
    Column("modify_index", BigInteger, nullable=False),
)

#: the configuration revision each instance last reported applying, and whether it succeeded
config_applied = Table(
    "config_applied",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("service_name", String(128), primary_key=True),
    Column("instance_id", String(64), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", String(1000), nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=False),
)


#: canary rollouts of a configuration: the candidate document stays here (sealed like a stored
#: version) until it is promoted, so the versions table only ever holds what every instance runs
config_rollouts = Table(
    "config_rollouts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("service_name", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(2000)),
    Column("base_revision", BigInteger, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("version", String(64), nullable=False),
    Column("config", JSON, nullable=False),
    Column("author", String(255), nullable=False),
    Column("message", String(1000)),
    #: the request's canary selector, the chosen instance ids, bake and check periods, flags
    Column("detail", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("bake_until", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("promoted_revision", BigInteger),
    Column("owner", String(64)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Index("ix_config_rollouts_service", "tenant_id", "service_name", "created_at"),
    Index(
        "ux_config_rollouts_active_service",
        "tenant_id",
        "service_name",
        unique=True,
        sqlite_where=text(ACTIVE_ROLLOUT),
        postgresql_where=text(ACTIVE_ROLLOUT),
    ),
)


#: alert rules on measurements: a metric a service reports (or a health check's latency)
#: above or below a threshold, or rising faster than a rate, for some time
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ux_alert_rules_name", "tenant_id", "name", unique=True),
)

"""Service registry table.

Revision ID: 0001
Revises:

The migrations form one line in the order they were first released, which is not the order of
their numbers: 0001, 0005_contracts, 0002_config, 0004_deployments, 0003_alerts. They once all
revised 0001 directly; in release order, every state a database could reach then is a prefix of
this line (``Database.start`` joins the several version rows such a database holds). A new
migration revises the current head and takes the next free number.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_registry",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("service_name", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("health_endpoint", sa.String(1024)),
        sa.Column("version", sa.String(64)),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transport_preferences", sa.JSON, nullable=False),
        sa.Column("contract_validated", sa.Boolean, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("ttl_seconds", sa.Integer, nullable=False),
        sa.Column("dependencies", sa.JSON, nullable=False),
        sa.Column("check_spec", sa.JSON),
        sa.UniqueConstraint("tenant_id", "service_name", "host", "port", name="uq_registry_endpoint"),
    )
    op.create_index("ix_registry_tenant_service", "service_registry", ["tenant_id", "service_name"])


def downgrade() -> None:
    op.drop_index("ix_registry_tenant_service", "service_registry")
    op.drop_table("service_registry")

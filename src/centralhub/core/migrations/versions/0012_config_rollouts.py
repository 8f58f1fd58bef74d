"""Canary rollouts of configuration: one active rollout per service, owned under a lease.

Revision ID: 0012_config_rollouts
Revises: 0011_config_applied
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_config_rollouts"
down_revision = "0011_config_applied"
branch_labels = None
depends_on = None

ACTIVE = "state IN ('baking', 'promoting')"


def upgrade() -> None:
    op.create_table(
        "config_rollouts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("service_name", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(2000)),
        sa.Column("base_revision", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("message", sa.String(1000)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bake_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("promoted_revision", sa.BigInteger),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_config_rollouts_service", "config_rollouts", ["tenant_id", "service_name", "created_at"])
    op.create_index(
        "ux_config_rollouts_active_service",
        "config_rollouts",
        ["tenant_id", "service_name"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_table("config_rollouts")

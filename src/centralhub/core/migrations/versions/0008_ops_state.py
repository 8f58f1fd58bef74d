"""Shared operations state: the open alert per dedup key, and circuit state.

Revision ID: 0008_ops_state
Revises: 0007_deployment_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_ops_state"
down_revision = "0007_deployment_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_open_keys",
        sa.Column("open_key", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(32), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "circuits",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("service_name", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("half_open_successes", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("last_failure_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(500)),
        sa.Column("reason", sa.String(500)),
        sa.Column("successes_reported", sa.Integer, nullable=False),
        sa.Column("failures_reported", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("circuits")
    op.drop_table("alert_open_keys")

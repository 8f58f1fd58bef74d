"""Hub replica membership (who is alive, for sharing out the health checks).

Revision ID: 0009_replicas
Revises: 0006_auth
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_replicas"
down_revision = "0008_ops_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_replicas",
        sa.Column("replica_id", sa.String(64), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_replicas")

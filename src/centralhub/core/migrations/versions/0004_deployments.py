"""Rolling deployments.

Revision ID: 0004_deployments
Revises: 0002_config
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_deployments"
down_revision = "0002_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("service_name", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.String(2000)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_deployments_tenant_created", "deployments", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deployments_tenant_created", table_name="deployments")
    op.drop_table("deployments")

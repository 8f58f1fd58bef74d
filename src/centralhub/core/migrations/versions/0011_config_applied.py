"""What configuration revision each instance runs (reported by the SDK), for the drift view.

Revision ID: 0011_config_applied
Revises: 0010_consul_kv
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_config_applied"
down_revision = "0010_consul_kv"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_applied",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("service_name", sa.String(128), primary_key=True),
        sa.Column("instance_id", sa.String(64), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("config_applied")

"""Alert rules on measurements (latency, error rate, any metric a service reports).

Revision ID: 0013_alert_rules
Revises: 0012_config_rollouts
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_alert_rules"
down_revision = "0012_config_rollouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_alert_rules_name", "alert_rules", ["tenant_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_table("alert_rules")

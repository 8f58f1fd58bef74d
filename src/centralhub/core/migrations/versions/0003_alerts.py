"""Alert history and silences.

Revision ID: 0003_alerts
Revises: 0004_deployments
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_alerts"
down_revision = "0004_deployments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("instance_id", sa.String(64)),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("dependents", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("acknowledged", sa.Boolean, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(255)),
        sa.Column("silenced", sa.Boolean, nullable=False),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("deliveries", sa.JSON, nullable=False),
    )
    op.create_index("ix_alerts_created", "alerts", ["created_at"])
    op.create_index("ix_alerts_target", "alerts", ["target"])
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(128)),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(1000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_silences")
    op.drop_index("ix_alerts_target", "alerts")
    op.drop_index("ix_alerts_created", "alerts")
    op.drop_table("alerts")

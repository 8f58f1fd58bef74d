"""Configuration store: immutable versions and per-service JSON Schemas.

Revision ID: 0002_config
Revises: 0005_contracts
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_config"
down_revision = "0005_contracts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(128), nullable=False),
        sa.Column("service_name", sa.String(255), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("message", sa.String(2000)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "service_name", "revision", name="uq_config_revision"),
    )
    op.create_table(
        "config_schemas",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("service_name", sa.String(255), primary_key=True),
        sa.Column("json_schema", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("config_schemas")
    op.drop_table("config_versions")

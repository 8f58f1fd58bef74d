"""Service contracts table.

Revision ID: 0005_contracts
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_contracts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_contracts",
        sa.Column("tenant_id", sa.String(128), primary_key=True),
        sa.Column("service_name", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("schemas", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_contracts")

"""The key/value store of the Consul-compatible API.

Revision ID: 0010_consul_kv
Revises: 0009_replicas
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_consul_kv"
down_revision = "0009_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consul_kv",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=True),
        sa.Column("flags", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("create_index", sa.BigInteger, nullable=False),
        sa.Column("modify_index", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consul_kv")

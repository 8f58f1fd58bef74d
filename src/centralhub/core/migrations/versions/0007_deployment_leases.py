"""Deployments owned by a replica under a lease; one active deployment per service.

Revision ID: 0007_deployment_leases
Revises: 0006_auth
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_deployment_leases"
down_revision = "0006_auth"
branch_labels = None
depends_on = None

ACTIVE = "state IN ('pending', 'running')"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # tolerant of a table that already has them (one created from the current tables module)
    present = {c["name"] for c in inspector.get_columns("deployments")}
    columns: list[sa.Column[Any]] = [
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True)),
        sa.Column("retire_at", sa.DateTime(timezone=True)),
    ]
    with op.batch_alter_table("deployments") as batch:
        for column in columns:
            if column.name not in present:
                batch.add_column(column)
    # replicas without a shared check could have started two deployments of one service: all but
    # the newest are stopped so the unique index can be built (their lease is null, so a replica
    # adopts the survivor)
    op.execute(
        sa.text(
            "UPDATE deployments SET state = 'cancelled', error = 'superseded by a newer deployment' "
            f"WHERE {ACTIVE} AND EXISTS (SELECT 1 FROM deployments AS newer "
            "WHERE newer.tenant_id = deployments.tenant_id "
            "AND newer.service_name = deployments.service_name "
            "AND newer.state IN ('pending', 'running') "
            "AND (newer.created_at > deployments.created_at "
            "OR (newer.created_at = deployments.created_at AND newer.id > deployments.id)))"
        )
    )
    if "ux_deployments_active_service" in {i["name"] for i in inspector.get_indexes("deployments")}:
        return
    op.create_index(
        "ux_deployments_active_service",
        "deployments",
        ["tenant_id", "service_name"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ux_deployments_active_service", table_name="deployments")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("retire_at")
        batch.drop_column("cancel_requested_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("owner")

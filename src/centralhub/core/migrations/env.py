"""Alembic environment: runs on the connection the hub hands over at start-up."""

from __future__ import annotations

from alembic import context

from centralhub.core.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through centralhub.core.database.Database.start()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

"""The schema is defined once: migrations and ``core/tables.py`` agree, on SQLite and PostgreSQL.

Also: the migrations form one line, and a database migrated while they still branched from the
first one (several rows in ``alembic_version``) starts cleanly and ends on that line's head.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, text
from sqlalchemy.engine import Connection

from centralhub.core.database import Database, alembic_config
from centralhub.core.tables import metadata
from tests.conftest import create_pg_database, drop_pg_database

pytestmark = pytest.mark.timeout(60)

#: the revisions each branch of the old history recorded, with the tables that branch created
OLD_BRANCHES = {
    "0002_config": ["config_versions", "config_schemas"],
    "0003_alerts": ["alerts", "alert_silences"],
    "0004_deployments": ["deployments"],
    "0005_contracts": ["service_contracts"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, of each kind (a fresh PostgreSQL database per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'schema.db'}"
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def schema_differences(connection: Connection, target: MetaData = metadata) -> list[Any]:
    """What Alembic's autogenerate would change to turn the database into ``target``."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, target))


async def differences(url: str, target: MetaData = metadata) -> list[Any]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(schema_differences, target)
    finally:
        await db.close()


async def recorded_revisions(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return sorted(r[0] for r in rows.all())


async def build_branched_database(url: str, revisions: Sequence[str]) -> None:
    """The end state of the old branched history after applying 0001 plus ``revisions``."""
    tables = ["service_registry"] + [t for rev in revisions for t in OLD_BRANCHES[rev]]
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: metadata.create_all(c, tables=[metadata.tables[t] for t in tables]))
            await conn.execute(
                text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
            for rev in revisions:
                await conn.execute(text("INSERT INTO alembic_version VALUES (:rev)"), {"rev": rev})
    finally:
        await db.close()


def test_migrations_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    line = [s.revision for s in reversed(list(script.walk_revisions()))]
    assert line[0] == "0001"
    assert line[-1] == head_revision()
    for previous, current in zip(line, line[1:], strict=False):
        assert script.get_revision(current).down_revision == previous
    assert set(OLD_BRANCHES) < set(line)


async def test_migrated_database_matches_tables(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        await db.start()
        assert await recorded_revisions(db) == [head_revision()]
    finally:
        await db.close()
    assert await differences(empty_database_url) == []


async def test_comparison_sees_a_drift(empty_database_url: str) -> None:
    """The comparison above is not vacuous: a column or a nullability change shows up."""
    db = Database(empty_database_url)
    try:
        await db.start()
    finally:
        await db.close()
    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["deployments"].append_column(Column("attempts", Integer, nullable=False))
    drifted.tables["alerts"].c.tenant_id.nullable = False
    kinds = sorted(
        d[0] if isinstance(d, tuple) else d[0][0] for d in await differences(empty_database_url, drifted)
    )
    assert kinds == ["add_column", "modify_nullable"]


@pytest.mark.parametrize(
    "old_revisions",
    [
        pytest.param(sorted(OLD_BRANCHES), id="fully-migrated"),
        pytest.param(["0005_contracts"], id="contracts-only"),
        pytest.param(["0002_config", "0005_contracts"], id="config-and-contracts"),
        pytest.param(["0002_config", "0003_alerts"], id="out-of-line-order"),
    ],
)
async def test_start_joins_a_branched_history(empty_database_url: str, old_revisions: list[str]) -> None:
    """A database the branched migrations built starts, gets any missing table, and ends at head."""
    await build_branched_database(empty_database_url, old_revisions)
    db = Database(empty_database_url)
    try:
        await db.start()
        assert await recorded_revisions(db) == [head_revision()]
        await db.start()  # idempotent once on the line
        assert await recorded_revisions(db) == [head_revision()]
    finally:
        await db.close()
    assert await differences(empty_database_url) == []

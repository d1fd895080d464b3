"""Alembic environment: online migrations over asyncpg (the only Postgres driver we ship)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from schemas.tables import metadata

# Two processes migrating the same database at once (say, a launcher and an operator) take turns;
# the second then finds the schema at head and does nothing.
MIGRATION_LOCK_ID = 0x617574_68706C  # "authpl"


def _url() -> str:
    dsn = context.get_x_argument(as_dictionary=True).get("dsn")
    if dsn:
        from schemas.dsn import async_url

        return async_url(dsn)
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass -x dsn=postgresql://... or use migrations.runner")
    return url


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
asyncio.run(_run_online())

"""Apply the migrations to a Postgres DSN from Python, wherever the caller's CWD is."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from schemas.dsn import async_url

HERE = Path(__file__).resolve().parent


def alembic_config(dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # ConfigParser interpolation would read "%" in a password as a placeholder.
    config.set_main_option("sqlalchemy.url", async_url(dsn).replace("%", "%%"))
    return config


def upgrade(dsn: str, revision: str = "head") -> None:
    """Bring the database to ``revision``; a database already there is left untouched."""
    config = alembic_config(dsn)
    # env.py drives asyncpg with asyncio.run(); a thread of its own keeps that legal even when
    # the caller is itself inside a running event loop.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(config, revision)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="alembic-upgrade")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]

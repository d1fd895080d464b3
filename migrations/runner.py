"""Apply the migrations to a Postgres DSN from Python, wherever the caller's CWD is."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent
ASYNC_SCHEME = "postgresql+asyncpg"


def async_url(dsn: str) -> str:
    """``postgresql://user@host:port/db`` -> the SQLAlchemy asyncpg URL of the same database."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", ASYNC_SCHEME):
        raise ValueError("expected a postgresql://user@host:port/db DSN")
    return f"{ASYNC_SCHEME}://{rest}"


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

"""The one way every authplane process builds a Postgres engine (login endpoint, projector,
verifier, authctl, replay), the counterpart of ``schemas.redis_client``.

``pool_pre_ping``: after a Postgres restart the first statement gets a live connection instead
of a failure and a back-off. Services bound each connect and statement (``timeout_s``) so a hung
database turns into their fallback or a fail-closed answer; the projector passes ``None`` (its
batches may take longer, and it retries on its own).

Every session commits synchronously, whatever the server's default: a commit is on the server's
disk (and, with ``synchronous_standby_names``, its synchronous standby's) before authplane acts
on it. With the server at ``synchronous_commit=off``, a Postgres crash loses commits it already
acknowledged, up to three times ``wal_writer_delay`` (PostgreSQL docs, "Asynchronous Commit"):
the projector would have committed the log offsets of events its read models then lack, and the
emergency channel would have answered a login whose outbox row is gone. Only ``off`` is raised
(to ``on``); an operator's ``local``, ``remote_write`` or ``remote_apply`` is kept. It is set on
each new connection, not sent as a startup parameter, which PgBouncer refuses unless told to
ignore it.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from schemas.dsn import async_url


def make_engine(
    dsn: str, timeout_s: float | None = 3.0, pool_size: int = 4, max_overflow: int = 4
) -> AsyncEngine:
    """An asyncpg engine for ``dsn`` (``postgresql://user@host:port/db``).

    ``timeout_s``: connect and per-statement timeout (s), ``None`` for asyncpg's defaults;
    ``pool_size`` + ``max_overflow``: the most connections it opens. Raises ``ValueError`` when
    ``dsn`` is not a Postgres URL.
    """
    connect_args: dict[str, Any] = {}
    if timeout_s is not None:
        connect_args = {"timeout": timeout_s, "command_timeout": timeout_s}
    engine = create_async_engine(
        async_url(dsn),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "connect", _commit_synchronously)
    return engine


SYNCHRONOUS_COMMIT_SQL = (
    "SELECT set_config('synchronous_commit', 'on', false) "
    "WHERE current_setting('synchronous_commit') = 'off'"
)


def _commit_synchronously(dbapi_connection: Any, _record: Any) -> None:
    """Raise ``synchronous_commit`` from ``off`` on a new connection. Runs on the driver's
    connection itself, outside the transaction the adapter would open (a setting made in a
    transaction later rolled back is undone); a failure is raised as SQLAlchemy's
    ``OperationalError``, as any other failed connect is (``run_async`` does not translate)."""
    try:
        dbapi_connection.run_async(lambda conn: conn.execute(SYNCHRONOUS_COMMIT_SQL))
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise OperationalError(SYNCHRONOUS_COMMIT_SQL, None, exc) from exc

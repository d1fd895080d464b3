"""Apply Postgres operations: one transaction per batch, one statement per table and kind.

Each operation type maps to one handler in ``_PLAN`` that adds it to the batch's ``Plan``; the
plan's statements (``streams.postgres_sql``) then run in one transaction: the order-free rows
first, grouped per table, then the log-ordered operations in batch order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import orjson
from asyncpg.exceptions._base import DataError as ArgumentError
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from streams import postgres_sql as sql
from streams.errors import StoreDown, StoreRejected, StoreUnavailable
from streams.operations import (
    PgFailuresDropBefore,
    PgInsertIgnore,
    PgOperation,
    PgRefreshSpend,
    PgUpsertMax,
    PgUpsertMin,
)
from streams.postgres_plan import Plan, differing_body

PROBE_TIMEOUT_S = 2.0
# SQLSTATE classes that name the data, not the server: 22 data exception (a NUL in text, a value
# out of range), 23 integrity violation, 54 program limit exceeded (an index row too large).
# asyncpg's translation through SQLAlchemy turns most of them into a generic DBAPI Error.
_VALUE_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
# 08 connection, 40 rollback (deadlock, serialization), 53 insufficient resources (disk full),
# 55 lock not available, 57 operator intervention (shutdown), 58 system error, 25006 read-only.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58", "25"})
_ARGUMENT = "argument"


class PostgresExecutor:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def healthy(self) -> bool:
        """True when Postgres starts a writing transaction within ``PROBE_TIMEOUT_S`` (s).

        Taking a transaction id fails on a read-only server (a standby, a full disk's emergency
        read-only mode), which a plain SELECT would not notice. The transaction is rolled back.
        """
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S), self._engine.connect() as conn:
                await conn.execute(text("SELECT pg_current_xact_id()"))
                await conn.rollback()
        except (SQLAlchemyError, OSError, TimeoutError):
            return False
        return True

    async def apply(self, operations: Sequence[PgOperation]) -> None:
        """Apply the batch in one transaction.

        Raises ``StoreRejected`` (the data: a constraint, a bad value, a value JSON cannot carry,
        an event id already taken by a different body), ``StoreDown`` (the server or the
        connection) or ``StoreUnavailable`` (neither proven), and ``TypeError`` for an unknown
        operation type.
        """
        plan = Plan()
        for op in operations:
            add = _PLAN.get(type(op))
            if add is None:
                raise TypeError(f"no Postgres handler for {type(op).__name__}")
            add(plan, op)
        if not plan:
            return
        try:
            async with self._engine.begin() as conn:
                await _refuse_differing_duplicates(conn, plan.archived_params())
                for statement, params in plan.statements():
                    await conn.execute(statement, params)
        except (IntegrityError, DataError) as exc:
            raise StoreRejected("postgres", _describe(exc)) from exc
        except SQLAlchemyError as exc:
            state = _sqlstate(exc)
            if state[:2] in _VALUE_SQLSTATE_CLASSES or state == _ARGUMENT:
                raise StoreRejected("postgres", _describe(exc)) from exc
            if state[:2] in _OUTAGE_SQLSTATE_CLASSES or getattr(
                exc, "connection_invalidated", False
            ):
                raise StoreDown("postgres", _describe(exc)) from exc
            # Anything else (an unexpected server error, a driver error without SQLSTATE): the
            # projector asks for evidence before blaming the event.
            raise StoreUnavailable("postgres", _describe(exc)) from exc
        except (OSError, TimeoutError) as exc:
            raise StoreDown("postgres", _describe(exc)) from exc
        except orjson.JSONEncodeError as exc:  # a value JSON cannot carry (an int over 64 bits)
            raise StoreRejected("postgres", _describe(exc)) from exc


_PLAN: dict[type, Callable[[Plan, Any], None]] = {
    PgInsertIgnore: Plan.insert_ignore,
    PgUpsertMin: Plan.upsert_min,
    PgUpsertMax: Plan.upsert_max,
    PgRefreshSpend: Plan.refresh_spend,
    PgFailuresDropBefore: Plan.failures_drop,
}
"""Operation type -> the ``Plan`` method that takes it into the batch."""


async def _refuse_differing_duplicates(conn: AsyncConnection, params: dict[str, Any]) -> None:
    # The first body archived under an event id wins; a later, different event under the same id
    # is refused (dead-lettered), not applied: its other effects would mix two events' data.
    # Identical copies (redelivery, replay, producer retries) pass as before.
    if not params:
        return
    differing = (await conn.execute(sql.DIFFERING_BODIES, params)).scalar()
    if differing is not None:
        raise StoreRejected("postgres", differing_body(str(differing)))


def _sqlstate(exc: SQLAlchemyError) -> str:
    """The server's SQLSTATE behind a driver error, ``_ARGUMENT`` when asyncpg could not encode
    an argument (say, an int over 64 bits), else empty."""
    cause: BaseException | None = getattr(exc, "orig", None) or exc
    seen = 0
    while cause is not None and seen < 8:
        if isinstance(cause, asyncpg.exceptions.PostgresError):
            return str(getattr(cause, "sqlstate", "") or "")
        if isinstance(cause, ArgumentError):
            return _ARGUMENT
        cause, seen = cause.__cause__, seen + 1
    return ""


def _describe(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    first_line = next(iter(str(cause).splitlines()), "")
    return f"{type(cause).__name__}: {first_line}"

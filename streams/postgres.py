"""Apply Postgres operations: one transaction per batch, one statement per table and kind.

Rows travel as one array per column through ``unnest``: a single fixed statement per table
(prepared once, cached by asyncpg) instead of SQL that grows with the batch. Measured here it
wrote about twice the rows per second of SQLAlchemy's multi-row VALUES ("insertmanyvalues").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import asyncpg
import orjson
from asyncpg.exceptions._base import DataError as ArgumentError
from sqlalchemy import Column, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas import names
from schemas.tables import metadata
from streams import refresh_ops, unlock_ops
from streams.errors import StoreDown, StoreRejected, StoreUnavailable
from streams.operations import PgInsertIgnore, PgOperation, PgUpsertMax, PgUpsertMin
from streams.refresh_ops import PgRefreshSpend
from streams.unlock_ops import PgFailuresDropBefore

Row = dict[str, Any]
PROBE_TIMEOUT_S = 2.0
# SQLSTATE classes that name the data, not the server: 22 data exception (a NUL in text, a value
# out of range), 23 integrity violation, 54 program limit exceeded (an index row too large).
# asyncpg's translation through SQLAlchemy turns most of them into a generic DBAPI Error.
_VALUE_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
# 08 connection, 40 rollback (deadlock, serialization), 53 insufficient resources (disk full),
# 55 lock not available, 57 operator intervention (shutdown), 58 system error, 25006 read-only.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58", "25"})
_ARGUMENT = "argument"
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_QUOTE = _DIALECT.identifier_preparer.quote


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
        in_order = [op for op in operations if isinstance(op, PgRefreshSpend)]
        drops = [op for op in operations if isinstance(op, PgFailuresDropBefore)]
        grouped = [
            op for op in operations if not isinstance(op, PgRefreshSpend | PgFailuresDropBefore)
        ]
        statements = list(_statements(grouped))
        if not statements and not in_order and not drops:
            return
        archived = _archive_bodies(grouped)
        try:
            async with self._engine.begin() as conn:
                await _refuse_differing_duplicates(conn, archived)
                for statement, rows in statements:
                    await conn.execute(statement.sql, statement.arrays(rows))
                # After the grouped rows (a session's first token row among them), in log order.
                await refresh_ops.apply_postgres(conn, in_order)
                await unlock_ops.apply_postgres(conn, drops)
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


# Compared in the server: only the ids whose archived body differs come back.
_DIFFERING_BODIES = text(
    f"SELECT CAST(a.event_id AS text) FROM {names.TABLE_EVENT_ARCHIVE} AS a "  # noqa: S608
    "JOIN unnest(CAST(:ids AS uuid[]), CAST(:bodies AS bytea[])) AS b(event_id, body) "
    "ON a.event_id = b.event_id WHERE a.body <> b.body LIMIT 1"
)


def _archive_bodies(operations: Sequence[PgOperation]) -> dict[str, bytes]:
    """Event id -> exact bytes of the events this batch archives. Raises StoreRejected when one
    id arrives twice with different bodies in the batch itself."""
    bodies: dict[str, bytes] = {}
    for op in operations:
        if isinstance(op, PgInsertIgnore) and op.table == names.TABLE_EVENT_ARCHIVE:
            event_id, body = str(op.row["event_id"]), bytes(op.row["body"])
            if bodies.setdefault(event_id, body) != body:
                raise StoreRejected("postgres", _differing(event_id))
    return bodies


async def _refuse_differing_duplicates(conn: AsyncConnection, bodies: dict[str, bytes]) -> None:
    # The first body archived under an event id wins; a later, different event under the same id
    # is refused (dead-lettered), not applied: its other effects would mix two events' data.
    # Identical copies (redelivery, replay, producer retries) pass as before.
    if not bodies:
        return
    ids = list(bodies)
    params = {"ids": ids, "bodies": [bodies[i] for i in ids]}
    differing = (await conn.execute(_DIFFERING_BODIES, params)).scalar()
    if differing is not None:
        raise StoreRejected("postgres", _differing(str(differing)))


def _differing(event_id: str) -> str:
    return f"event id {event_id} is already taken by an event with a different body"


@dataclass(frozen=True)
class _Unnest:
    """One INSERT ... SELECT FROM unnest(...) statement and the columns it takes, in order."""

    sql: TextClause
    columns: tuple[str, ...]
    json_columns: frozenset[str]

    def arrays(self, rows: list[Row]) -> Row:
        arrays: Row = {}
        for i, name in enumerate(self.columns):
            values = [row[name] for row in rows]
            if name in self.json_columns:
                values = [orjson.dumps(v).decode() for v in values]
            arrays[f"c{i}"] = values
        return arrays


def _statements(
    operations: Sequence[PgInsertIgnore | PgUpsertMin | PgUpsertMax],
) -> Iterable[tuple[_Unnest, list[Row]]]:
    ignored: dict[tuple[str, tuple[str, ...]], list[Row]] = {}
    upserts: dict[tuple[bool, str, str, str, tuple[str, ...]], dict[Any, Row]] = {}
    for op in operations:
        columns = tuple(op.row)
        if isinstance(op, PgInsertIgnore):
            ignored.setdefault((op.table, columns), []).append(dict(op.row))
        else:
            highest = isinstance(op, PgUpsertMax)
            group = (highest, op.table, op.key, op.compare, columns)
            _keep_winner(upserts.setdefault(group, {}), op, highest)
    for (table, columns), rows in ignored.items():
        yield _insert_ignore(table, columns), rows
    for (highest, table, key, compare, columns), by_key in upserts.items():
        build = _upsert_max if highest else _upsert_min
        yield build(table, key, compare, columns), list(by_key.values())


def _keep_winner(by_key: dict[Any, Row], op: PgUpsertMin | PgUpsertMax, highest: bool) -> None:
    # One statement may not update the same row twice (ON CONFLICT DO UPDATE refuses), so the
    # batch is pre-reduced with the same "smallest (or largest) wins" rule the statement applies.
    key = op.row[op.key]
    current = by_key.get(key)
    if current is None:
        by_key[key] = dict(op.row)
        return
    new, old = op.row[op.compare], current[op.compare]
    if (new > old) if highest else (new < old):
        by_key[key] = dict(op.row)


def _unnest_insert(table: str, columns: tuple[str, ...], on_conflict: str) -> _Unnest:
    t = metadata.tables[table]
    names = ", ".join(_QUOTE(c) for c in columns)
    arrays = ", ".join(f"CAST(:c{i} AS {_array_type(t.c[c])})" for i, c in enumerate(columns))
    # Identifiers come from schemas.tables, never from events; every value is a bound array.
    sql = f"INSERT INTO {_QUOTE(table)} ({names}) SELECT * FROM unnest({arrays}) {on_conflict}"  # noqa: S608
    json_columns = frozenset(c for c in columns if isinstance(t.c[c].type, postgresql.JSONB))
    return _Unnest(text(sql), columns, json_columns)


def _array_type(column: Column[Any]) -> str:
    return f"{column.type.compile(dialect=_DIALECT)}[]"


@cache
def _insert_ignore(table: str, columns: tuple[str, ...]) -> _Unnest:
    return _unnest_insert(table, columns, "ON CONFLICT DO NOTHING")


@cache
def _upsert_min(table: str, key: str, compare: str, columns: tuple[str, ...]) -> _Unnest:
    # Only the operation's own columns: columns written by other projections (say, revocation
    # fields of a session) must survive a winning upsert.
    updates = ", ".join(f"{_QUOTE(c)} = EXCLUDED.{_QUOTE(c)}" for c in columns if c != key)
    condition = f"{_QUOTE(table)}.{_QUOTE(compare)} > EXCLUDED.{_QUOTE(compare)}"
    on_conflict = f"ON CONFLICT ({_QUOTE(key)}) DO UPDATE SET {updates} WHERE {condition}"
    return _unnest_insert(table, columns, on_conflict)


@cache
def _upsert_max(table: str, key: str, compare: str, columns: tuple[str, ...]) -> _Unnest:
    # The row may exist with this group of columns never written (compare IS NULL): then the
    # incoming event wins, whatever wrote the row's other groups.
    updates = ", ".join(f"{_QUOTE(c)} = EXCLUDED.{_QUOTE(c)}" for c in columns if c != key)
    current = f"{_QUOTE(table)}.{_QUOTE(compare)}"
    condition = f"{current} IS NULL OR {current} < EXCLUDED.{_QUOTE(compare)}"
    on_conflict = f"ON CONFLICT ({_QUOTE(key)}) DO UPDATE SET {updates} WHERE {condition}"
    return _unnest_insert(table, columns, on_conflict)


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

"""Apply Postgres operations: one transaction per batch, one multi-row statement per table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.tables import metadata
from streams.errors import StoreRejected, StoreUnavailable
from streams.operations import PgInsertIgnore, PgOperation, PgUpsertMin

Row = dict[str, Any]


class PostgresExecutor:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def apply(self, operations: Sequence[PgOperation]) -> None:
        statements = list(_statements(operations))
        if not statements:
            return
        try:
            async with self._engine.begin() as conn:
                for statement, rows in statements:
                    # executemany of one INSERT: SQLAlchemy sends it as multi-row VALUES batches
                    # ("insertmanyvalues"), not one round trip per row.
                    await conn.execute(statement, rows)
        except (IntegrityError, DataError) as exc:
            raise StoreRejected("postgres", _describe(exc)) from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable("postgres", _describe(exc)) from exc


def _statements(operations: Sequence[PgOperation]) -> Iterable[tuple[Insert, list[Row]]]:
    ignored: dict[str, list[Row]] = {}
    lowest: dict[tuple[str, str, str, tuple[str, ...]], dict[Any, Row]] = {}
    for op in operations:
        if isinstance(op, PgInsertIgnore):
            ignored.setdefault(op.table, []).append(dict(op.row))
        else:
            group = (op.table, op.key, op.compare, tuple(op.row))
            _keep_lowest(lowest.setdefault(group, {}), op)
    for table, rows in ignored.items():
        yield _insert_ignore(table), rows
    for (table, key, compare, columns), by_key in lowest.items():
        yield _upsert_min(table, key, compare, columns), list(by_key.values())


def _keep_lowest(by_key: dict[Any, Row], op: PgUpsertMin) -> None:
    # One statement may not update the same row twice (ON CONFLICT DO UPDATE refuses), so the
    # batch is pre-reduced with the same "smallest wins" rule the statement applies.
    key = op.row[op.key]
    current = by_key.get(key)
    if current is None or op.row[op.compare] < current[op.compare]:
        by_key[key] = dict(op.row)


def _table(name: str) -> Table:
    return metadata.tables[name]


@cache
def _insert_ignore(table: str) -> Insert:
    return insert(_table(table)).on_conflict_do_nothing()


@cache
def _upsert_min(table: str, key: str, compare: str, columns: tuple[str, ...]) -> Insert:
    t = _table(table)
    stmt = insert(t)
    # Only the operation's own columns: columns written by other projections (say, revocation
    # fields of a session) must survive a winning upsert.
    return stmt.on_conflict_do_update(
        index_elements=[t.c[key]],
        set_={name: stmt.excluded[name] for name in columns if name != key},
        where=t.c[compare] > stmt.excluded[compare],
    )


def _describe(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    first_line = next(iter(str(cause).splitlines()), "")
    return f"{type(cause).__name__}: {first_line}"
